package argocdsim_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	gogoproto "github.com/gogo/protobuf/proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/deploybot/deploybot/internal/argocdsim/simtest"
)

// TestMethodTable keeps the method table in doc.go exact: it names every
// method the generated descriptors of the five services have, no other, and
// each method behaves as its row says in every version the simulator
// speaks: an "Unimplemented" one answers codes.Unimplemented, an
// "implemented" one does not.
func TestMethodTable(t *testing.T) {
	rows := methodTable(t)
	methods := servedMethods(t)
	seen := map[string]bool{}
	for _, m := range methods {
		seen[m.Key()] = true
		if _, ok := rows[m.Key()]; !ok {
			t.Errorf("doc.go method table lacks %s", m.Key())
		}
	}
	for key := range rows {
		if !seen[key] {
			t.Errorf("doc.go method table lists %s, which the descriptors do not have", key)
		}
	}

	isolateHome(t)
	for _, version := range versions {
		opts := fastOpts
		opts.Version = version
		addr, _ := simtest.Start(t, opts)
		checkMethodRows(t, version, rawConn(t, addr), methods, rows)
	}
}

// checkMethodRows calls each method of the table on a simulator speaking
// version: which methods are implemented does not depend on it.
func checkMethodRows(t *testing.T, version string, conn *grpc.ClientConn, methods []rpcMethod, rows map[string]methodRow) {
	for _, m := range methods {
		row, ok := rows[m.Key()]
		if !ok {
			continue
		}
		t.Run(version+"/"+m.Key(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(withToken(context.Background(), "token", token), 10*time.Second)
			defer cancel()
			err := invokeZero(ctx, conn, m)
			code := status.Code(err)
			switch {
			case row.implemented && code == codes.Unimplemented:
				t.Errorf("listed as implemented (%s) but answers %v", row.note, err)
			case !row.implemented && code != codes.Unimplemented:
				t.Errorf("listed as Unimplemented (%s) but answers %v", row.note, err)
			case !row.implemented && !strings.Contains(status.Convert(err).Message(), "is not simulated by the argocd simulator"):
				t.Errorf("Unimplemented without the simulator's explanation: %v", err)
			}
		})
	}
}

// invokeZero calls a method with the zero request of its input type (the
// proto2 required fields set to zero values, or decoding fails) and returns
// the call's error; for a server stream, the error of its first message.
func invokeZero(ctx context.Context, conn *grpc.ClientConn, m rpcMethod) error {
	typ := gogoproto.MessageType(m.InputType)
	if typ == nil {
		return status.Errorf(codes.Internal, "input type %s of %s is not registered", m.InputType, m.Full)
	}
	req := reflect.New(typ.Elem())
	setRequired(req.Elem())
	if !m.ClientStream && !m.ServerStream {
		return conn.Invoke(ctx, m.Full, req.Interface(), &emptypb.Empty{})
	}
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: m.ClientStream, ServerStreams: m.ServerStream}, m.Full)
	if err != nil {
		return err
	}
	if err := stream.SendMsg(req.Interface()); err != nil {
		return stream.RecvMsg(&emptypb.Empty{})
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	return stream.RecvMsg(&emptypb.Empty{})
}

// setRequired gives every nil required field of a generated struct a zero value.
func setRequired(v reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		f, sf := v.Field(i), v.Type().Field(i)
		if !strings.Contains(sf.Tag.Get("protobuf"), ",req,") || f.Kind() != reflect.Pointer || !f.IsNil() {
			continue
		}
		f.Set(reflect.New(sf.Type.Elem()))
		if sf.Type.Elem().Kind() == reflect.Struct {
			setRequired(f.Elem())
		}
	}
}
