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
//     access; refs.go: ref files; refbatch.go: ref updates in batches and
//     ref packing; repo.go: Init, InitialCommit and the ref API used by
//     handlers; maintain.go: Maintain (repack, pack refs); repack.go: the
//     repack's plan, delta search and pack writer; delta.go: the delta
//     encoder.
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
//     One update is written as a loose ref; the updates of a push that
//     moves several refs go into packed-refs in one rewrite (one fsync),
//     after which the loose files that would shadow them are removed.
//   - A ref value is in packed-refs before its loose file is removed
//     (batch updates, packing, deletion: packed-refs is rewritten first),
//     and readers read loose refs before packed-refs, as git does. A ref
//     moving between the two is therefore seen at its old or its new
//     value, never missing, and a deleted ref's older packed value never
//     resurfaces. A ref leaves packed-refs only when it is deleted.
//   - Maintenance computes its new pack without the lock, from the packs
//     and loose objects present when it starts. Under the lock it
//     installs the pack (after the indexer re-hashed every object and
//     found all the replaced ones), then removes only what it replaced,
//     then packs loose refs. Objects are never pruned.
package gitserver
