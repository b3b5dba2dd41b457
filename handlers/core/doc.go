// Package core is the kernel of Tapioca's forge core: what every rule
// needs and every door shares. It holds the sentinel errors doors map to
// their wire statuses, the acting identity (Actor) and the scope rules,
// the permission decisions (private means invisible), the environment a
// core service runs in (store, git server, configuration, the on-disk
// layout, runtime settings) and the small value types of operation
// inputs (Opt, Page).
//
// The forge's operations live in the sub-packages beside it, one per
// aggregate (accounts, orgs, repos, issues, pulls, webhooks, ...). They
// import this package, store and gitserver, never net/http: a door (the
// CodeBoba API, the dashboard, git over HTTP or SSH, MCP) translates its
// wire format into calls on them and their results back, and decides
// nothing itself.
package core
