// Package argocdsim is an in-memory Argo CD API server with the semantics of
// argocd-server v2.14, 3.0 or 3.1 (Options.Version), used by `deploybot dev`
// (which speaks 3.1), demos and tests (2.14 unless they choose).
//
// It implements argo-cd's generated ApplicationService and the
// RepositoryService's GetAppDetails and ListRepositories (plus
// ProjectService.Get/List, SettingsService.Get and VersionService.Version,
// which the argocd CLI calls), and serves, like argocd-server, on one port:
//
//   - native gRPC (HTTP/2; h2c in plaintext mode),
//   - gRPC-Web (improbable-eng/grpc-web, as argo-cd's client uses with GRPCWeb),
//   - the REST gateway /api/v1/... (argo-cd's grpc-gateway handlers and JSON marshaler),
//   - the admin API /sim/... (no token; a development tool bound to loopback by default).
//
// Methods that are not modelled answer codes.Unimplemented; the table under
// Methods lists them all.
//
// # Authentication
//
// Requests must carry a configured token where argocd-server looks for
// one: gRPC metadata "token" (what argo-cd's client sends), "Authorization:
// Bearer <token>", or the argocd.token cookie on REST. Options.Token
// (default "dev-token") is the admin account's; Options.Accounts adds local
// accounts' (see Accounts and RBAC). Otherwise gRPC answers Unauthenticated
// and REST 401 with argo's error JSON {"error":...,"code":16,"message":...}.
// VersionService.Version and SettingsService.Get need no token, as in Argo CD.
//
// # Accounts and RBAC
//
// Options.Accounts maps tokens to local accounts ({"bot-token":
// "deploybot"}), Options.RBACPolicy is argocd-rbac-cm's policy.csv (e.g.
// deploy/argocd/policy.csv) and Options.RBACDefaultRole its policy.default.
// With none of them set everything is allowed (the admin's role:admin
// allows all the simulator serves). With any, every call is authorized by
// Argo CD's own enforcer (argo-cd v2.14's util/rbac), built as argocd-server
// builds it: the built-in policy (admin is role:admin; 3.x's readonly
// addition is included), the user policy, the default role, glob matching
// and server/rbacpolicy's claims enforcer. The claims are a parsed account
// token's: sub is the account, iat the simulator's start. Each method checks
// what argocd-server v2.14 and 3.x check, with their errors:
//
//   - Get, ResourceTree, ManagedResources, RevisionMetadata,
//     GetApplicationSyncWindows and PodLogs find the app with `applications,
//     get`; Rollback, TerminateOperation with `sync`; UpdateSpec and Update
//     with `update`. The object is <project>/<app>, or
//     <project>/<namespace>/<app> for an app outside argocd. A denial there
//     is a plain "permission denied", like a missing app, or NotFound when
//     the request names a project (with a project named, the action must
//     also be allowed on <that project>/<name> as sent, else "permission
//     denied").
//   - List and Watch leave out the apps the caller may not get.
//   - After the lookup, with argocd-server's EnforceErr message
//     ("permission denied: applications, sync, default/guestbook, sub:
//     deploybot, iat: 2025-01-06T09:00:00Z"): Sync `applications, sync`
//     (and `override` with local manifests; it finds the app with `get`),
//     Patch `update` (found with `get`), Update `update` on the body's app
//     first, moving an app to another project `create` there and `update`
//     in the old one, PodLogs `logs, get` from 3.0 (2.14: only with
//     Options.LogsRBACEnforce, argocd-cm's server.rbac.log.enforce.enable).
//   - RepositoryService.GetAppDetails: `repositories, get` on the
//     repository's URL, then `applications, get` on <appProject>/<appName>
//     as sent (`create` too when no such app exists); ListRepositories and
//     List leave out repositories the caller may not get.
//   - ProjectService.Get `projects, get` on the project (before the lookup);
//     List leaves the others out.
//
// Operations record the caller's account as initiatedBy.username. Project
// roles and their tokens (proj:<project>:<role>) are not simulated: the
// seed projects have no roles.
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
//   - With auto-sync on, an OutOfSync app is synced by the simulated
//     controller (from 3.1 not while automated.enabled is false).
//
// # Versions
//
// Options.Version chooses the release: "2.14" (the default), "3.0", "3.1",
// or a release of those lines such as "v3.1.16", which is then reported as
// given. The short forms report v2.14.21+argocdsim, v3.0.23+argocdsim and
// v3.1.16+argocdsim. All three share the v2.14 service names, REST paths and
// field numbers (3.x kept them). What differs:
//
//   - VersionService.Version (every version, as argocd-server): a caller
//     without a valid token gets the version only; a logged-in one also the
//     git tag, tree state, Go version, compiler, platform and the Helm,
//     Kustomize, kubectl and Jsonnet versions that release pins.
//   - 3.0+: the controller no longer stores per-resource health on the
//     Application (--persist-resource-health defaults to false):
//     status.resourceHealthSource is "appTree" and status.resources[] have
//     no health. Get and Watch fill it in from the resource tree
//     (inferResourcesStatusHealth); List, Sync, Rollback, Update and Patch
//     answer the app as stored, without it, as argocd-server 3.x does.
//     ResourceTree carries health on its nodes in every version.
//   - 3.0+: PodLogs needs the `logs, get` RBAC permission on the app
//     besides `applications, get` (2.14 checks it only with
//     server.rbac.log.enforce.enable: Options.LogsRBACEnforce). The admin
//     token's role:admin has it; an account of Options.Accounts whose
//     RBACPolicy lacks it, e.g. deploy/argocd/policy.csv without its `logs,
//     get` line, is refused with argocd-server's message "permission
//     denied: logs, get, default/guestbook, sub: deploybot, iat: ..." (see
//     Accounts and RBAC), while 2.14 serves it.
//   - 3.1: spec.syncPolicy.automated.enabled (SyncPolicyAutomated field
//     4, JSON "enabled"; absent means on). `automated: {enabled: false}` is
//     auto-sync off with prune and selfHeal kept: Rollback is allowed, Sync
//     may pick another revision, and the simulated controller does not
//     auto-sync, as where 3.1.16 checks IsAutomatedSyncEnabled. The v2 types
//     drop field 4, so the simulator keeps it per app (forgotten when
//     automated is removed) and puts it on the wire itself: every gRPC and
//     gRPC-Web answer carrying an app (Get, List, Watch, Sync, Rollback,
//     Patch, Update; UpdateSpec's spec) has it when set, Update and
//     UpdateSpec read it from the request, Patch's JSON (merge or json)
//     has and sets "enabled", and the REST gateway writes "enabled" in its
//     JSON answers (List and Watch too, server-sent events included) and
//     reads it from PUT bodies. 2.14 and 3.0 drop "enabled" wherever it is
//     sent, as their types do: `automated` stays set and auto-sync on.
//
// # Applications in other namespaces
//
// As with Argo CD's "apps in any namespace", an app is (namespace, name).
// The seed holds, besides the argocd apps of the demo table, a second
// guestbook in namespace team-a (project team-a, whose sourceNamespaces
// allow team-a; its own repository and three history entries). Like an
// Application in a namespace argocd-server does not serve, it is not
// listed, watched or found until Options.AppNamespaces (argocd-sim
// --application-namespaces, argocd-server's --application-namespaces:
// names, globs or /regexps/) enables team-a. Then every method reaches it
// with appNamespace "team-a" (GetAppDetails: appName "team-a/guestbook"),
// List shows both guestbooks (by name, argocd's first), and List's
// appNamespace filter narrows to one namespace. As in argocd-server, an
// app whose project does not allow its namespace is refused as if the
// project did not exist, and once any namespace is enabled the
// informer-backed methods find apps of every namespace. Counters, outcomes
// and Operations name an app by its key: the bare name in argocd
// ("guestbook"), "namespace/name" elsewhere ("team-a/guestbook"); a name
// sent with a "/" in it is no app's and is counted as
// "namespace/name-as-sent" ("argocd/team-a/guestbook").
//
// # REST gateway
//
// The REST routes are argo-cd's own generated grpc-gateway handlers on a mux
// built like argocd-server's, so a path maps to the same method and its path
// values to the same request fields as in Argo CD:
//
//   - Path values are set after the body is decoded and win over the body's
//     (POST /api/v1/applications/search/sync with {"name":"checkout"} syncs
//     search), except PUT /api/v1/applications/{application.metadata.name}
//     (Update): the generated handler assigns that one through
//     Application.GetMetadata(), which returns a copy, so it is lost. The app
//     updated is the one the body's metadata.name names; a body without it is
//     answered "permission denied", as by argocd-server.
//   - Where two methods share a route the first registered wins: GET
//     /api/v1/repositories is the deprecated RepositoryService.List (served as
//     ListRepositories), POST, PUT and DELETE under /api/v1/repositories are the
//     deprecated Create, Update and Delete.
//   - Repository URLs travel URL-escaped in one path segment and are unescaped
//     on the server (argocd-server's bug21955 workaround).
//   - Non-GET calls need Content-Type application/json (--api-content-types).
//
// # Methods
//
// Every method of the five services, as their generated descriptors list
// them (a test keeps this table exact): "implemented" with argocd-server
// v2.14 semantics as noted, or "Unimplemented" with the reason; those answer
// codes.Unimplemented, "<method> is not simulated by the argocd simulator".
// App lookups work as in getAppEnforceRBAC: the name is used as sent (the CLI,
// not the server, splits "namespace/name") in the request's appNamespace
// (every method that names an app takes it; see Applications in other
// namespaces); a failed lookup is PermissionDenied, except that methods Argo CD
// serves from its informer cache (ResourceTree, ManagedResources,
// RevisionMetadata, PodLogs) answer NotFound when the request names a project,
// as the others do for an existing app in another project.
//
//	ApplicationService
//	  List                       implemented: filters name, projects, selector, repo, appNamespace; sorted by name; 3.0+: status.resources without health; 3.1: automated.enabled
//	  ListResourceEvents         Unimplemented: no Kubernetes events are simulated
//	  Create                     Unimplemented: the apps are the fixed seed (restored by /sim/reset)
//	  Get                        implemented: one app; refresh marks it reconciled now; 3.0+: resource health filled in from the tree; 3.1: automated.enabled
//	  GetApplicationSyncWindows  implemented: no sync windows are configured, so canSync is true
//	  RevisionMetadata           implemented: author, date and message of a commit of the app's repository
//	  RevisionChartDetails       Unimplemented: charts come from git repositories, not Helm repositories
//	  GetManifests               implemented: the Deployment and Service the asked revision (or the target) renders; multi-source apps Unimplemented
//	  Update                     implemented: replaces spec, labels, annotations, finalizers of the body's app; keeps status; 3.1: reads and answers automated.enabled
//	  UpdateSpec                 implemented: replaces the spec and returns it; 3.1: reads and answers automated.enabled
//	  Patch                      implemented: JSON patch ("json" or "") or merge patch ("merge") of the whole app; stores spec, labels, annotations, finalizers; 3.1: the JSON has automated.enabled
//	  Delete                     Unimplemented: the apps are the fixed seed
//	  Sync                       implemented: starts a sync (revision, prune, dryRun, strategy, resources, retry, syncOptions, infos); local manifests and multi-source apps Unimplemented; 3.0+: answers the app without resource health; 3.1: auto-sync off with enabled: false
//	  ManagedResources           implemented: live and target Deployment and Service, filtered by name, kind, group, namespace
//	  ResourceTree               implemented: Deployment, ReplicaSet, Pods and Service with health
//	  Rollback                   implemented: redeploys a history entry with the apply strategy; refused under auto-sync (3.1: unless enabled: false)
//	  TerminateOperation         implemented: the running operation ends Failed
//	  GetResource                Unimplemented: single live resources are not served (ManagedResources has their manifests)
//	  PatchResource              Unimplemented: live resources are not modified
//	  ListResourceActions        Unimplemented: resource actions are not simulated
//	  RunResourceAction          Unimplemented: resource actions are not simulated
//	  DeleteResource             Unimplemented: live resources are not deleted
//	  ListLinks                  Unimplemented: no deep links are configured
//	  ListResourceLinks          Unimplemented: no deep links are configured
//	  Watch                      implemented: ADDED for the current apps, then each change; name, projects, selector, resourceVersion, appNamespace filters; 3.0+: resource health filled in from the tree; 3.1: automated.enabled
//	  GetManifestsWithFiles      Unimplemented: manifests are not rendered
//	  WatchResourceTree          Unimplemented: resource trees are served by ResourceTree only
//	  PodLogs                    implemented: per-pod tail and since, merged by time, then last=true; filter, container, untilTime, follow; `applications, get`, and from 3.0 (2.14 with LogsRBACEnforce) `logs, get`
//	RepositoryService
//	  List                       implemented: deprecated alias of ListRepositories, and what GET /api/v1/repositories reaches
//	  Get                        Unimplemented: repositories are implied by the apps and have no credentials to show
//	  GetWrite                   Unimplemented: no write repositories (source hydrator)
//	  ListRepositories           implemented: one git repository per app, connection Successful (gRPC only: its REST route reaches List)
//	  ListWriteRepositories      Unimplemented: no write repositories (source hydrator)
//	  ListRefs                   Unimplemented: branches and tags are not simulated
//	  ListApps                   Unimplemented: repository contents are not simulated
//	  GetAppDetails              implemented: Helm parameters and values (or a directory) of a source at its targetRevision, with argocd-server's project and history checks
//	  GetHelmCharts              Unimplemented: no Helm repositories
//	  Create                     Unimplemented: the repositories are fixed by the seed
//	  CreateRepository           Unimplemented: the repositories are fixed by the seed
//	  CreateWriteRepository      Unimplemented: no write repositories (source hydrator)
//	  Update                     Unimplemented: the repositories are fixed by the seed
//	  UpdateRepository           Unimplemented: the repositories are fixed by the seed
//	  UpdateWriteRepository      Unimplemented: no write repositories (source hydrator)
//	  Delete                     Unimplemented: the repositories are fixed by the seed
//	  DeleteRepository           Unimplemented: the repositories are fixed by the seed
//	  DeleteWriteRepository      Unimplemented: no write repositories (source hydrator)
//	  ValidateAccess             Unimplemented: no remote repositories to reach
//	  ValidateWriteAccess        Unimplemented: no write repositories (source hydrator)
//	ProjectService
//	  CreateToken                Unimplemented: project roles and their tokens are not simulated (tokens are Options.Token and Options.Accounts)
//	  DeleteToken                Unimplemented: project roles and their tokens are not simulated
//	  Create                     Unimplemented: the projects are fixed by the seed
//	  List                       implemented: all projects sorted by name
//	  GetDetailedProject         Unimplemented: no global projects, clusters or repositories per project
//	  Get                        implemented: one project; NotFound `appprojects.argoproj.io "X" not found`
//	  GetGlobalProjects          Unimplemented: no global projects
//	  Update                     Unimplemented: the projects are fixed by the seed
//	  Delete                     Unimplemented: the projects are fixed by the seed
//	  ListEvents                 Unimplemented: no Kubernetes events are simulated
//	  GetSyncWindowsState        Unimplemented: no sync windows are configured
//	  ListLinks                  Unimplemented: no deep links are configured
//	SettingsService
//	  Get                        implemented: the public settings the CLI reads; needs no token
//	  GetPlugins                 Unimplemented: no config management plugins
//	VersionService
//	  Version                    implemented: reports the release of Options.Version; needs no token; details only with one
//
// # Admin API
//
//	GET  /sim/stats   {"calls":{"Sync":{"guestbook":1,"team-a/guestbook":1},"List":{"":3}}}
//	GET  /sim/faults  current faults (same schema as the POST body)
//	POST /sim/faults  change faults; see Faults for the JSON schema
//	POST /sim/reset   restore the seed state, clear faults and counters
package argocdsim
