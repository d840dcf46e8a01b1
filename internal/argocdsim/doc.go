// Package argocdsim is an in-memory Argo CD API server with the semantics of
// argocd-server v2.14, used by `deploybot dev`, demos and tests.
//
// It implements argo-cd's generated ApplicationService and the
// RepositoryService's GetAppDetails (plus ProjectService.Get/List,
// SettingsService.Get and VersionService.Version, which the argocd CLI
// calls), and serves, like argocd-server, on one port:
//
//   - native gRPC (HTTP/2; h2c in plaintext mode),
//   - gRPC-Web (improbable-eng/grpc-web, as argo-cd's client uses with GRPCWeb),
//   - the REST gateway /api/v1/... (argo-cd's grpc-gateway handlers and JSON marshaler),
//   - the admin API /sim/... (no token; a development tool bound to loopback by default).
//
// Methods that are not modelled answer codes.Unimplemented.
//
// # Authentication
//
// Requests must carry the configured token (default "dev-token") where
// argocd-server looks for one: gRPC metadata "token" (what argo-cd's client
// sends), "Authorization: Bearer <token>", or the argocd.token cookie on REST.
// Otherwise gRPC answers Unauthenticated and REST 401 with argo's error JSON
// {"error":...,"code":16,"message":...}. VersionService.Version and
// SettingsService.Get need no token, as in Argo CD.
//
// # Behaviour worth knowing
//
//   - A missing app is PermissionDenied "permission denied" unless the request
//     names a project; then it is NotFound `applications.argoproj.io "X" not found`.
//   - Sync and Rollback return as soon as the operation is recorded
//     (operation set, status.operationState nil). The operation then runs:
//     phase Running and health Progressing; at 60% of OperationDuration the
//     operation finishes (Succeeded, history entry with the next id, sync
//     status recomputed); at 100% health settles (Healthy, or the app's
//     outcome, e.g. Degraded for checkout).
//   - After a rollback the spec still targets HEAD, so the app is OutOfSync,
//     as in Argo CD. Failed operations add no history entry.
//   - With auto-sync on, an OutOfSync app is synced by the simulated controller.
//
// # Admin API
//
//	GET  /sim/stats   {"calls":{"Sync":{"guestbook":1},"List":{"":3}}}
//	GET  /sim/faults  current faults (same schema as the POST body)
//	POST /sim/faults  change faults; see Faults for the JSON schema
//	POST /sim/reset   restore the seed state, clear faults and counters
package argocdsim
