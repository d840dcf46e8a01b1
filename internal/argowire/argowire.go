// Package argowire reads and writes the fields of Argo CD's wire messages that
// the argo-cd/v2 Go types cannot see. Those types are gogo-generated without
// unknown-field retention, so a field a newer server added is dropped when a
// message is decoded into them and never sent when one is encoded. Argo CD 3.x
// kept every v2 field number, so such a field can be found in the raw bytes of
// a message at the same path as in the server's own types.
//
// The one field deploybot needs is spec.syncPolicy.automated.enabled (3.1+,
// proto field 4 "enable" of SyncPolicyAutomated, JSON "enabled"): with
// `automated: {enabled: false}` auto-sync is off while its settings are kept.
package argowire

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Path is the chain of message field numbers from a message down to a
// SyncPolicyAutomated inside it. A repeated field on the way is followed into
// every occurrence, in wire order (the order of the Go slice it decodes into).
type Path []protowire.Number

// Paths to spec.syncPolicy.automated in the messages that carry an app.
var (
	// ApplicationAutomated is Application.spec(2).syncPolicy(4).automated(1).
	ApplicationAutomated = Path{2, 4, 1}
	// SpecAutomated is ApplicationSpec.syncPolicy(4).automated(1).
	SpecAutomated = Path{4, 1}
	// ListAutomated is ApplicationList.items(2) then ApplicationAutomated.
	ListAutomated = append(Path{2}, ApplicationAutomated...)
	// WatchEventAutomated is ApplicationWatchEvent.application(2) then ApplicationAutomated.
	WatchEventAutomated = append(Path{2}, ApplicationAutomated...)
	// CreateAutomated is ApplicationCreateRequest.application(1) then ApplicationAutomated.
	CreateAutomated = append(Path{1}, ApplicationAutomated...)
	// UpdateAutomated is ApplicationUpdateRequest.application(1) then ApplicationAutomated.
	UpdateAutomated = append(Path{1}, ApplicationAutomated...)
	// UpdateSpecAutomated is ApplicationUpdateSpecRequest.spec(2) then SpecAutomated.
	UpdateSpecAutomated = append(Path{2}, SpecAutomated...)
)

// EnabledField is SyncPolicyAutomated's field number of `enabled`.
const EnabledField protowire.Number = 4

// Automated is what the wire says about one SyncPolicyAutomated found at a
// Path: that it is there, and its `enabled` (nil when the field is absent,
// which Argo CD reads as on).
type Automated struct {
	Enabled *bool
}

// On reports whether auto-sync is on for an automated policy that is present,
// as Argo CD 3.1's IsAutomatedSyncEnabled: enabled absent or true.
func (a Automated) On() bool { return a.Enabled == nil || *a.Enabled }

var errTruncated = errors.New("argowire: truncated or malformed protobuf message")

// Find returns every SyncPolicyAutomated at path in msg, in wire order.
// Messages without one (no syncPolicy, or syncPolicy without automated) add
// nothing, so a single Application yields zero or one entry.
func Find(msg []byte, path Path) ([]Automated, error) {
	var out []Automated
	err := visit(msg, path, func(sub []byte) error {
		a, err := readEnabled(sub)
		out = append(out, a)
		return err
	})
	return out, err
}

// Rewrite calls set for every SyncPolicyAutomated at path in msg, in wire
// order with its index, and writes `enabled` as set returns it: nil removes
// the field. Messages without one are copied unchanged; every length prefix
// on the way is recomputed.
func Rewrite(msg []byte, path Path, set func(i int, cur Automated) *bool) ([]byte, error) {
	i := 0
	return rewrite(msg, path, func(sub []byte) ([]byte, error) {
		cur, err := readEnabled(sub)
		if err != nil {
			return nil, err
		}
		v := set(i, cur)
		i++
		return writeEnabled(sub, v)
	})
}

// visit calls f with the bytes of every message at path.
func visit(msg []byte, path Path, f func(sub []byte) error) error {
	if len(path) == 0 {
		return f(msg)
	}
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return errTruncated
		}
		msg = msg[n:]
		if num == path[0] && typ == protowire.BytesType {
			sub, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				return errTruncated
			}
			if err := visit(sub, path[1:], f); err != nil {
				return err
			}
			msg = msg[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, msg)
		if m < 0 {
			return errTruncated
		}
		msg = msg[m:]
	}
	return nil
}

// rewrite copies msg, replacing every message at path with f's result.
func rewrite(msg []byte, path Path, f func(sub []byte) ([]byte, error)) ([]byte, error) {
	if len(path) == 0 {
		return f(msg)
	}
	out := make([]byte, 0, len(msg)+8)
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil, errTruncated
		}
		if num == path[0] && typ == protowire.BytesType {
			sub, m := protowire.ConsumeBytes(msg[n:])
			if m < 0 {
				return nil, errTruncated
			}
			inner, err := rewrite(sub, path[1:], f)
			if err != nil {
				return nil, err
			}
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendBytes(out, inner)
			msg = msg[n+m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, msg[n:])
		if m < 0 {
			return nil, errTruncated
		}
		out = append(out, msg[:n+m]...)
		msg = msg[n+m:]
	}
	return out, nil
}

// readEnabled reads field 4 of a SyncPolicyAutomated; the last occurrence
// wins, as in any protobuf decoder.
func readEnabled(automated []byte) (Automated, error) {
	var a Automated
	for len(automated) > 0 {
		num, typ, n := protowire.ConsumeTag(automated)
		if n < 0 {
			return a, errTruncated
		}
		automated = automated[n:]
		if num == EnabledField {
			if typ != protowire.VarintType {
				return a, fmt.Errorf("argowire: automated.enabled has wire type %d, want varint", typ)
			}
			v, m := protowire.ConsumeVarint(automated)
			if m < 0 {
				return a, errTruncated
			}
			b := protowire.DecodeBool(v)
			a.Enabled = &b
			automated = automated[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, automated)
		if m < 0 {
			return a, errTruncated
		}
		automated = automated[m:]
	}
	return a, nil
}

// writeEnabled drops every field 4 and appends v's (none if v is nil). Field
// order does not matter to protobuf decoders.
func writeEnabled(automated []byte, v *bool) ([]byte, error) {
	out := make([]byte, 0, len(automated)+2)
	for len(automated) > 0 {
		num, typ, n := protowire.ConsumeTag(automated)
		if n < 0 {
			return nil, errTruncated
		}
		m := protowire.ConsumeFieldValue(num, typ, automated[n:])
		if m < 0 {
			return nil, errTruncated
		}
		if num != EnabledField {
			out = append(out, automated[:n+m]...)
		}
		automated = automated[n+m:]
	}
	if v != nil {
		out = protowire.AppendTag(out, EnabledField, protowire.VarintType)
		out = protowire.AppendVarint(out, protowire.EncodeBool(*v))
	}
	return out, nil
}
