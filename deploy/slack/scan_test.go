package slackapp_test

// The scanner behind manifest_test.go: it type-checks deploybot's
// production packages (non-test files) together with slack-go, and
// reports every use of a slack-go client method, resolved by type rather
// than by name, so deploybot's own Update, Reply or PostMessage never count.
//
// Type-checking the whole dependency graph from source (Temporal, gRPC,
// Argo CD, Kubernetes…) takes minutes, so only the standard library and
// gorilla/websocket (declarations only), slack-go and deploybot itself are
// checked; every other import is an empty stand-in package. Expressions whose type
// comes from a stand-in are unknown to the checker: a call on one whose
// method name is also a slack-go client method is reported as unresolved
// (see notSlackGo), so a slack-go client reached that way cannot slip by.

import (
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const (
	slackPkg      = "github.com/slack-go/slack"
	socketModePkg = "github.com/slack-go/slack/socketmode"
)

// use is one use of a slack-go client method (a call, or a method value
// such as sm.AckCtx passed on).
type use struct {
	// key is "slack.Method" (a method of *slack.Client, also when called
	// through socketmode.Client's embedded client or through an interface
	// with the same method) or "socketmode.Method" (socketmode.Client's own),
	// or "slack.func:Name" for a package-level slack-go function that calls
	// Slack over HTTP.
	key string
	pos token.Position
	// via says how it was resolved: "direct", "interface" or "unresolved".
	via string
}

// loader type-checks packages from source. Packages under one of roots
// (import path prefix → directory) are parsed and checked here, with their
// syntax kept; the standard library and gorilla/websocket come from the
// source importer; anything else is an empty stand-in.
type loader struct {
	fset   *token.FileSet
	goroot string
	srcDir string // where go/build resolves module imports (the module root)
	roots  map[string]string
	pkgs   map[string]*types.Package
	files  map[string][]*ast.File
	info   *types.Info
	decls  map[*types.Func]*ast.FuncDecl
	stubs  map[string]bool
}

func newLoader(moduleRoot string) *loader {
	// Pure-Go variants of net and os/user: no cgo run for the source importer.
	build.Default.CgoEnabled = false
	fset := token.NewFileSet()
	return &loader{
		fset:   fset,
		goroot: filepath.Join(build.Default.GOROOT, "src"),
		srcDir: moduleRoot,
		roots:  map[string]string{},
		pkgs:   map[string]*types.Package{},
		files:  map[string][]*ast.File{},
		info: &types.Info{
			Types:      map[ast.Expr]types.TypeAndValue{},
			Uses:       map[*ast.Ident]types.Object{},
			Defs:       map[*ast.Ident]types.Object{},
			Selections: map[*ast.SelectorExpr]*types.Selection{},
		},
		decls: map[*types.Func]*ast.FuncDecl{},
		stubs: map[string]bool{},
	}
}

func (l *loader) Import(path string) (*types.Package, error) { return l.ImportFrom(path, l.srcDir, 0) }

func (l *loader) ImportFrom(path, dir string, _ types.ImportMode) (*types.Package, error) {
	if path == "unsafe" {
		return types.Unsafe, nil
	}
	if p, ok := l.pkgs[path]; ok {
		return p, nil
	}
	if d, ok := l.dirOf(path); ok {
		return l.load(path, d, false)
	}
	if path == slackPkg || strings.HasPrefix(path, slackPkg+"/") {
		bp, err := build.Default.Import(path, l.srcDir, build.FindOnly)
		if err != nil {
			return nil, fmt.Errorf("locating %s: %w", path, err)
		}
		return l.load(path, bp.Dir, false)
	}
	first, _, _ := strings.Cut(path, "/")
	fromStd := dir != "" && strings.HasPrefix(dir, l.goroot+string(filepath.Separator))
	if !strings.Contains(first, ".") || fromStd || path == "github.com/gorilla/websocket" {
		// The standard library (and the packages it vendors), checked
		// without function bodies: only their declarations matter here.
		if dir == "" {
			dir = l.srcDir
		}
		bp, err := build.Default.Import(path, dir, 0)
		if err != nil {
			return nil, fmt.Errorf("locating %s: %w", path, err)
		}
		if p, ok := l.pkgs[bp.ImportPath]; ok {
			return p, nil
		}
		p, err := l.load(bp.ImportPath, bp.Dir, true)
		if err == nil {
			l.pkgs[path] = p
		}
		return p, err
	}
	p := types.NewPackage(path, pkgNameGuess(path))
	p.MarkComplete()
	l.pkgs[path] = p
	l.stubs[path] = true
	return p, nil
}

// pkgNameGuess is the usual package name of an import path (gopkg.in/yaml.v3
// → yaml, github.com/x/y/v2 → y); only stand-ins need it.
func pkgNameGuess(path string) string {
	parts := strings.Split(path, "/")
	name := parts[len(parts)-1]
	if len(parts) > 1 && len(name) > 1 && name[0] == 'v' && strings.Trim(name[1:], "0123456789") == "" {
		name = parts[len(parts)-2]
	}
	if i := strings.Index(name, ".v"); i > 0 {
		name = name[:i]
	}
	return strings.NewReplacer("-", "", ".", "").Replace(name)
}

func (l *loader) dirOf(path string) (string, bool) {
	for prefix, dir := range l.roots {
		if path == prefix {
			return dir, true
		}
		if rest, ok := strings.CutPrefix(path, prefix+"/"); ok {
			return filepath.Join(dir, filepath.FromSlash(rest)), true
		}
	}
	return "", false
}

// load parses and type-checks the non-test files of the package in dir.
// Type errors are expected (stand-ins) and ignored; what can be resolved is.
// With declsOnly, function bodies are skipped and nothing is recorded.
func (l *loader) load(path, dir string, declsOnly bool) (*types.Package, error) {
	bp, err := build.Default.ImportDir(dir, 0)
	if err != nil {
		return nil, err
	}
	var files []*ast.File
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(l.fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	conf := types.Config{Importer: l, Error: func(error) {}, FakeImportC: true, IgnoreFuncBodies: declsOnly}
	if declsOnly {
		p, _ := conf.Check(path, l.fset, files, nil)
		l.pkgs[path] = p
		return p, nil
	}
	p, _ := conf.Check(path, l.fset, files, l.info)
	l.pkgs[path] = p
	l.files[path] = files
	for _, f := range files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				if fn, ok := l.info.Defs[fd.Name].(*types.Func); ok {
					l.decls[fn] = fd
				}
			}
		}
	}
	return p, nil
}

// clientMethods returns the method sets of *slack.Client and
// *socketmode.Client, loading slack-go if needed.
func (l *loader) clientMethods() (slackM, socketM *types.MethodSet, err error) {
	named := func(pkgPath string) (*types.Named, error) {
		p, err := l.Import(pkgPath)
		if err != nil {
			return nil, err
		}
		obj, _ := p.Scope().Lookup("Client").(*types.TypeName)
		if obj == nil {
			return nil, fmt.Errorf("%s has no Client type", pkgPath)
		}
		return obj.Type().(*types.Named), nil
	}
	sc, err := named(slackPkg)
	if err != nil {
		return nil, nil, err
	}
	smc, err := named(socketModePkg)
	if err != nil {
		return nil, nil, err
	}
	return types.NewMethodSet(types.NewPointer(sc)), types.NewMethodSet(types.NewPointer(smc)), nil
}

// keyOf names a slack-go client method: "slack.M" or "socketmode.M".
func keyOf(fn *types.Func) string {
	switch fn.Pkg().Path() {
	case slackPkg:
		return "slack." + fn.Name()
	case socketModePkg:
		return "socketmode." + fn.Name()
	}
	return ""
}

// isClientMethod reports whether fn is a method declared on slack.Client
// or socketmode.Client.
func isClientMethod(fn *types.Func) bool {
	sig, ok := fn.Type().(*types.Signature)
	if !ok || sig.Recv() == nil || fn.Pkg() == nil {
		return false
	}
	if keyOf(fn) == "" {
		return false
	}
	t := sig.Recv().Type()
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	n, ok := t.(*types.Named)
	return ok && n.Obj().Name() == "Client"
}

// httpFunc reports whether fn is a package-level slack-go function that
// talks to Slack over HTTP on its own (OAuth exchanges, incoming webhooks):
// it takes an HTTP client, or posts a webhook.
func httpFunc(fn *types.Func) bool {
	sig, ok := fn.Type().(*types.Signature)
	if !ok || sig.Recv() != nil || fn.Pkg() == nil || fn.Pkg().Path() != slackPkg {
		return false
	}
	if strings.HasPrefix(fn.Name(), "PostWebhook") {
		return true
	}
	if strings.HasPrefix(fn.Name(), "Option") || strings.HasPrefix(fn.Name(), "OAuthOption") {
		return false // option constructors (OptionHTTPClient) only configure a client
	}
	for i := range sig.Params().Len() {
		s := types.TypeString(sig.Params().At(i).Type(), nil)
		if s == slackPkg+".httpClient" || s == "*net/http.Client" || s == slackPkg+".HTTPRequester" {
			return true
		}
	}
	return false
}

// scanDirs finds the production packages under root: every directory with
// non-test Go files, except hidden ones, testdata, vendor and skip (paths
// relative to root, slash-separated).
func scanDirs(root string, skip map[string]bool) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		name := d.Name()
		if rel != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
			name == "testdata" || name == "vendor" || name == "node_modules" || skip[rel]) {
			return filepath.SkipDir
		}
		if _, err := build.Default.ImportDir(p, 0); err != nil {
			var noGo *build.NoGoError
			if errors.As(err, &noGo) {
				return nil
			}
			return fmt.Errorf("%s: %w", rel, err)
		}
		dirs = append(dirs, rel)
		return nil
	})
	return dirs, err
}

// scan type-checks the packages in dirs (relative to the module root of
// module modPath at root) and returns every use of a slack-go client
// method in them, plus uses that could not be resolved.
func scan(l *loader, root, modPath string, dirs []string) ([]use, error) {
	l.roots[modPath] = root
	slackM, socketM, err := l.clientMethods()
	if err != nil {
		return nil, err
	}
	clientNames := map[string]bool{}
	for _, ms := range []*types.MethodSet{slackM, socketM} {
		for i := range ms.Len() {
			clientNames[ms.At(i).Obj().Name()] = true
		}
	}
	var uses []use
	for _, rel := range dirs {
		path := modPath
		if rel != "." {
			path += "/" + rel
		}
		if _, err := l.Import(path); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for _, f := range l.files[path] {
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.SelectorExpr:
					if u, ok := l.classify(n, slackM, clientNames); ok {
						uses = append(uses, u)
					}
				case *ast.Ident:
					if fn, ok := l.info.Uses[n].(*types.Func); ok && httpFunc(fn) {
						uses = append(uses, use{key: "slack.func:" + fn.Name(), pos: l.fset.Position(n.Pos()), via: "direct"})
					}
				}
				return true
			})
		}
	}
	sort.Slice(uses, func(i, j int) bool {
		if uses[i].key != uses[j].key {
			return uses[i].key < uses[j].key
		}
		return uses[i].pos.String() < uses[j].pos.String()
	})
	return uses, nil
}

// classify decides whether the selector x.M is a slack-go client method.
func (l *loader) classify(s *ast.SelectorExpr, slackM *types.MethodSet, clientNames map[string]bool) (use, bool) {
	pos := l.fset.Position(s.Sel.Pos())
	sel := l.info.Selections[s]
	if sel == nil {
		// A qualified identifier (pkg.Name) is not a method.
		if id, ok := s.X.(*ast.Ident); ok {
			if _, ok := l.info.Uses[id].(*types.PkgName); ok {
				return use{}, false
			}
		}
		if !clientNames[s.Sel.Name] {
			return use{}, false
		}
		if tv, ok := l.info.Types[s.X]; ok && tv.Type != nil && tv.Type != types.Typ[types.Invalid] {
			// The receiver's type is known and has no such method or field
			// (a type error): not a slack-go client.
			return use{}, false
		}
		return use{key: s.Sel.Name, pos: pos, via: "unresolved"}, true
	}
	if sel.Kind() == types.FieldVal {
		return use{}, false
	}
	fn, ok := sel.Obj().(*types.Func)
	if !ok {
		return use{}, false
	}
	if isClientMethod(fn) {
		return use{key: keyOf(fn), pos: pos, via: "direct"}, true
	}
	// Through an interface (activities.SlackAPI): a method with the name
	// and the exact signature of a *slack.Client method.
	if types.IsInterface(sel.Recv()) {
		if m := slackM.Lookup(l.pkgs[slackPkg], fn.Name()); m != nil {
			if types.Identical(m.Type(), fn.Type()) {
				return use{key: "slack." + fn.Name(), pos: pos, via: "interface"}, true
			}
		}
	}
	return use{}, false
}

// reachableStrings returns the string constants and literals reachable
// from the body of fn, following calls and references to other slack-go
// functions and methods (an over-approximation of the Web API method names
// fn may call).
func (l *loader) reachableStrings(fn *types.Func) map[string]bool {
	out := map[string]bool{}
	seen := map[*types.Func]bool{}
	var visit func(*types.Func)
	visit = func(fn *types.Func) {
		if seen[fn] {
			return
		}
		seen[fn] = true
		fd := l.decls[fn.Origin()]
		if fd == nil || fd.Body == nil {
			return
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if n.Kind == token.STRING {
					if s, err := strconv.Unquote(n.Value); err == nil {
						out[s] = true
					}
				}
			case *ast.Ident:
				switch obj := l.info.Uses[n].(type) {
				case *types.Const:
					if obj.Val().Kind() == constant.String {
						out[constant.StringVal(obj.Val())] = true
					}
				case *types.Func:
					if obj.Pkg() != nil && strings.HasPrefix(obj.Pkg().Path(), slackPkg) {
						visit(obj)
					}
				}
			}
			return true
		})
	}
	visit(fn)
	return out
}

// lookupClientMethod finds the slack-go method named by key ("slack.M" or
// "socketmode.M").
func (l *loader) lookupClientMethod(key string) (*types.Func, error) {
	slackM, socketM, err := l.clientMethods()
	if err != nil {
		return nil, err
	}
	pkg, name, _ := strings.Cut(key, ".")
	ms, p := slackM, l.pkgs[slackPkg]
	if pkg == "socketmode" {
		ms, p = socketM, l.pkgs[socketModePkg]
	}
	sel := ms.Lookup(p, name)
	if sel == nil {
		return nil, fmt.Errorf("%s: no such method in slack-go", key)
	}
	fn := sel.Obj().(*types.Func)
	if keyOf(fn) != key {
		return nil, fmt.Errorf("%s is promoted from %s: name it so in the table", key, keyOf(fn))
	}
	return fn, nil
}

// modulePath reads the module path from root/go.mod.
func modulePath(root string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", errors.New("go.mod has no module line")
}
