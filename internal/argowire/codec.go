package argowire

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// Codec is gRPC's own proto codec with hooks on the raw bytes, so a message's
// fields the Go type drops can be read as it arrives and added as it leaves.
// Use it per call (grpc.ForceCodecV2) or per server (grpc.ForceServerCodecV2).
// The zero value behaves exactly like the proto codec.
type Codec struct {
	// Encoded, if set, gets every marshalled message v and its bytes and
	// returns the bytes to send (e.g. with `enabled` written in).
	Encoded func(v any, b []byte) ([]byte, error)
	// Decoded, if set, gets every message v after it was unmarshalled from b.
	Decoded func(v any, b []byte) error
}

var _ encoding.CodecV2 = (*Codec)(nil)

func base() encoding.CodecV2 { return encoding.GetCodecV2(proto.Name) }

// Marshal encodes v with the proto codec, then lets Encoded rewrite it.
func (c *Codec) Marshal(v any) (mem.BufferSlice, error) {
	out, err := base().Marshal(v)
	if err != nil || c.Encoded == nil {
		return out, err
	}
	b := out.Materialize()
	out.Free()
	b, err = c.Encoded(v, b)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

// Unmarshal decodes data into v with the proto codec, then shows both to
// Decoded.
func (c *Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if c.Decoded == nil {
		return base().Unmarshal(data, v)
	}
	b := data.Materialize()
	if err := base().Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, v); err != nil {
		return err
	}
	return c.Decoded(v, b)
}

// Name is the proto codec's, so the content-type stays application/grpc+proto
// and either side may use the plain codec.
func (c *Codec) Name() string { return proto.Name }

// Capture returns a codec for one call that keeps the raw bytes of the
// (last) reply in *raw, e.g. to Find fields the reply's Go type dropped.
func Capture(raw *[]byte) *Codec {
	return &Codec{Decoded: func(_ any, b []byte) error {
		*raw = b
		return nil
	}}
}
