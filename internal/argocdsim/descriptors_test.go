package argocdsim_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	projectpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/project"
	repositorypkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/repository"
	settingspkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/settings"
	versionpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/version"
)

// rpcMethod is one method of a service the simulator registers, as argo-cd's
// generated descriptors describe it.
type rpcMethod struct {
	Service                    string // "ApplicationService"
	Name                       string // "List"
	Full                       string // "/application.ApplicationService/List"
	InputType                  string // "application.ApplicationQuery"
	ClientStream, ServerStream bool
	Routes                     []httpRoute // google.api.http rule and additional bindings
}

// Key is how the method table in doc.go names the method.
func (m rpcMethod) Key() string { return m.Service + "." + m.Name }

// httpRoute is one REST binding: "GET /api/v1/applications/{name}".
type httpRoute struct{ Verb, Path, Body string }

func (r httpRoute) String() string { return r.Verb + " " + r.Path }

var pathParam = regexp.MustCompile(`\{[^}]*\}`)

// shape is the route with its parameter names dropped: two routes with the
// same shape are the same route to grpc-gateway's mux.
func (r httpRoute) shape() string { return r.Verb + " " + pathParam.ReplaceAllString(r.Path, "{}") }

// servedMethods returns every method of the five services, in the order
// New registers their gateway handlers (service by service, then proto order).
func servedMethods(t testing.TB) []rpcMethod {
	t.Helper()
	var out []rpcMethod
	for _, msg := range []interface{ Descriptor() ([]byte, []int) }{
		&applicationpkg.ApplicationQuery{},
		&repositorypkg.RepoQuery{},
		&projectpkg.ProjectQuery{},
		&settingspkg.SettingsQuery{},
		&versionpkg.VersionMessage{},
	} {
		gz, _ := msg.Descriptor()
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		fd := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(raw, fd); err != nil {
			t.Fatal(err)
		}
		if len(fd.GetService()) != 1 {
			t.Fatalf("%s: %d services", fd.GetName(), len(fd.GetService()))
		}
		for _, svc := range fd.GetService() {
			for _, m := range svc.GetMethod() {
				rm := rpcMethod{
					Service:      svc.GetName(),
					Name:         m.GetName(),
					Full:         "/" + fd.GetPackage() + "." + svc.GetName() + "/" + m.GetName(),
					InputType:    strings.TrimPrefix(m.GetInputType(), "."),
					ClientStream: m.GetClientStreaming(),
					ServerStream: m.GetServerStreaming(),
				}
				if rule, ok := proto.GetExtension(m.GetOptions(), annotations.E_Http).(*annotations.HttpRule); ok && rule != nil {
					for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
						rm.Routes = append(rm.Routes, routeOf(t, rm.Key(), r))
					}
				}
				out = append(out, rm)
			}
		}
	}
	if len(out) < 60 {
		t.Fatalf("only %d methods found in the descriptors", len(out))
	}
	return out
}

func routeOf(t testing.TB, method string, r *annotations.HttpRule) httpRoute {
	t.Helper()
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return httpRoute{"GET", p.Get, r.GetBody()}
	case *annotations.HttpRule_Put:
		return httpRoute{"PUT", p.Put, r.GetBody()}
	case *annotations.HttpRule_Post:
		return httpRoute{"POST", p.Post, r.GetBody()}
	case *annotations.HttpRule_Delete:
		return httpRoute{"DELETE", p.Delete, r.GetBody()}
	case *annotations.HttpRule_Patch:
		return httpRoute{"PATCH", p.Patch, r.GetBody()}
	}
	t.Fatalf("%s: unexpected HTTP rule %v", method, r)
	return httpRoute{}
}

// routedMethods maps each route shape to the method grpc-gateway's mux
// sends it to: the first one registered (argo-cd builds its mux without
// WithLastMatchWins, and so does the simulator), e.g. GET
// /api/v1/repositories goes to the deprecated RepositoryService.List, not
// to ListRepositories.
func routedMethods(methods []rpcMethod) map[string]rpcMethod {
	out := map[string]rpcMethod{}
	for _, m := range methods {
		for _, r := range m.Routes {
			if _, ok := out[r.shape()]; !ok {
				out[r.shape()] = m
			}
		}
	}
	return out
}

// counterKey is the key Stats uses for a method: the bare name for
// ApplicationService, and for RepositoryService unless an ApplicationService
// method has the same name; "Service.Method" otherwise.
func counterKey(methods []rpcMethod, m rpcMethod) string {
	switch m.Service {
	case "ApplicationService":
		return m.Name
	case "RepositoryService":
		for _, o := range methods {
			if o.Service == "ApplicationService" && o.Name == m.Name {
				return m.Key()
			}
		}
		return m.Name
	}
	return m.Key()
}

// methodRow is one row of the method table in doc.go.
type methodRow struct {
	implemented bool
	note        string
}

var (
	tableService = regexp.MustCompile(`^//\t([A-Za-z]+Service)$`)
	tableRow     = regexp.MustCompile(`^//\t  ([A-Za-z]+) +(implemented|Unimplemented): (\S.*)$`)
)

// methodTable parses the "# Methods" table of doc.go.
func methodTable(t testing.TB) map[string]methodRow {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]methodRow{}
	service := ""
	for _, line := range strings.Split(string(src), "\n") {
		if m := tableService.FindStringSubmatch(line); m != nil {
			service = m[1]
			continue
		}
		m := tableRow.FindStringSubmatch(line)
		if m == nil {
			if strings.HasPrefix(line, "//\t  ") && service != "" {
				t.Errorf("doc.go: malformed method table row %q", line)
			}
			continue
		}
		key := service + "." + m[1]
		if _, dup := rows[key]; dup {
			t.Errorf("doc.go: %s listed twice", key)
		}
		rows[key] = methodRow{implemented: m[2] == "implemented", note: m[3]}
	}
	return rows
}
