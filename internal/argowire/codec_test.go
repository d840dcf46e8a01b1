package argowire_test

import (
	"context"
	"net"
	"testing"

	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/deploybot/deploybot/internal/argowire"
)

type getServer struct {
	applicationpkg.UnimplementedApplicationServiceServer
}

func (*getServer) Get(_ context.Context, q *applicationpkg.ApplicationQuery) (*v1alpha1.Application, error) {
	a := app(q.GetName(), &v1alpha1.SyncPolicyAutomated{Prune: true})
	return &a, nil
}

func (*getServer) Update(_ context.Context, q *applicationpkg.ApplicationUpdateRequest) (*v1alpha1.Application, error) {
	return q.Application, nil
}

// TestCodecOverGRPC: a server that writes `enabled` as it encodes, and a
// client that reads it from the captured reply, over a real gRPC connection.
func TestCodecOverGRPC(t *testing.T) {
	seen := make(chan []argowire.Automated, 1)
	server := &argowire.Codec{
		Encoded: func(v any, b []byte) ([]byte, error) {
			if _, ok := v.(*v1alpha1.Application); !ok {
				return b, nil
			}
			return argowire.Rewrite(b, argowire.ApplicationAutomated, func(int, argowire.Automated) *bool { return ptr(false) })
		},
		Decoded: func(v any, b []byte) error {
			if _, ok := v.(*applicationpkg.ApplicationUpdateRequest); ok {
				found, err := argowire.Find(b, argowire.UpdateAutomated)
				seen <- found
				return err
			}
			return nil
		},
	}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(grpc.ForceServerCodecV2(server))
	applicationpkg.RegisterApplicationServiceServer(gs, &getServer{})
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///argowire",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := applicationpkg.NewApplicationServiceClient(conn)

	name := "payments"
	// A plain client sees the v2 struct only: automated set, enabled lost.
	plain, err := c.Get(context.Background(), &applicationpkg.ApplicationQuery{Name: &name})
	if err != nil || plain.Spec.SyncPolicy.Automated == nil || !plain.Spec.SyncPolicy.Automated.Prune {
		t.Fatalf("plain get: %v %+v", err, plain)
	}
	var raw []byte
	if _, err := c.Get(context.Background(), &applicationpkg.ApplicationQuery{Name: &name}, grpc.ForceCodecV2(argowire.Capture(&raw))); err != nil {
		t.Fatal(err)
	}
	found, err := argowire.Find(raw, argowire.ApplicationAutomated)
	if err != nil || len(found) != 1 || found[0].On() {
		t.Fatalf("captured reply: %v %v, want automated with enabled false", show(found), err)
	}

	// And the other way: a client writes enabled into a request.
	upd := app(name, &v1alpha1.SyncPolicyAutomated{})
	writer := &argowire.Codec{Encoded: func(_ any, b []byte) ([]byte, error) {
		return argowire.Rewrite(b, argowire.UpdateAutomated, func(int, argowire.Automated) *bool { return ptr(true) })
	}}
	if _, err := c.Update(context.Background(), &applicationpkg.ApplicationUpdateRequest{Application: &upd}, grpc.ForceCodecV2(writer)); err != nil {
		t.Fatal(err)
	}
	if got := show(<-seen); len(got) != 1 || got[0] != "true" {
		t.Fatalf("server read %v from the update, want [true]", got)
	}
}
