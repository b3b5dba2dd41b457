// Package gitserver speaks git: the smart-HTTP transport (upload-pack and
// receive-pack written on go-git's plumbing), ref updates under a
// per-repository lock, and repository creation. It knows nothing of HTTP
// authentication or JSON; handlers/ decides who may call it.
//
// Where things live:
//
//   - http.go: info/refs and the ref advertisement; uploadpack.go: fetch
//     negotiation (protocol v0/v1, stateless RPC) and shallow; packwrite.go:
//     the pack sent to clients; receivepack.go: pushes; indexpack.go: the
//     pushed pack's index; revwalk.go: history walks; odb.go: raw object
//     access; objectstore.go: a read-only go-git object store over odb.go
//     (for browse, gitdiff and commitfiles); refs.go: ref files;
//     refname.go: branch name checks; repo.go: Init, InitialCommit and
//     the ref API used by handlers.
//   - Sub-packages: merge (three-way merges; merge/linediff is git's
//     line diff, LGPL), diffstat (pull request statistics), archive (ZIP),
//     browse (reading code: contents, trees, grep, log, compare),
//     gitdiff (diffs and patch series byte-identical to git) and
//     commitfiles (a commit from file actions).
//
// Invariants the code relies on:
//
//   - Every object stored in a repository has its full closure stored:
//     pushes are checked for connectivity before their pack is installed,
//     and the server writes objects bottom-up. Connectivity checks
//     therefore stop at the first stored object.
//   - Objects are installed before any ref points to them, and readers
//     list refs before packs, so a reader never sees a ref whose objects
//     it cannot find. A received pack's .idx is renamed in before its
//     .pack: go-git lists .pack files and fails on one without an index,
//     git lists .idx files and skips one without a pack.
//   - Every ref write in the process goes through Server.Lock (or
//     LockContext) and compares the current value before writing; refs
//     are replaced through <ref>.lock and rename, packed-refs likewise.
package gitserver
