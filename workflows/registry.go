package workflows

// Definition is a workflow and the contract name it is registered under.
type Definition struct {
	Name string
	Func any
}

var definitions []Definition

// define adds a workflow to Definitions. Each workflow's file defines its
// own, next to the function, so adding a command's workflow touches that
// file alone (plus the command table and its contract name).
func define(name string, fn any) struct{} {
	definitions = append(definitions, Definition{Name: name, Func: fn})
	return struct{}{}
}

// Definitions lists every workflow under its contract name: the worker and
// the replay tests register exactly these.
func Definitions() []Definition { return append([]Definition(nil), definitions...) }
