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
//     pushed pack's index, every declared size checked as it streams in;
//     delta.go: checked delta application and bounded inflation
//     (ApplyDelta, InflateBounded) for any untrusted pack; fsck.go: git's
//     fsck rules for pushed objects; pushcert.go: signed pushes and the
//     Push shared by a push's updates; revwalk.go: history walks; odb.go:
//     raw object access; refs.go: ref files; repo.go: Init, InitialCommit
//     and the ref API used by handlers.
//
// Invariants the code relies on:
//
//   - Every object stored in a repository has its full closure stored,
//     with links of the right types, and passed git's fsck rules: pushes
//     are checked before their pack is installed, and the server writes
//     objects bottom-up. Connectivity checks therefore stop at the first
//     stored object (after checking its type).
//   - No size a pack declares is acted on before it is checked: no object
//     over the file size limit is inflated, made by a delta, or held in
//     memory; large objects are streamed.
//   - Objects are installed before any ref points to them, and readers
//     list refs before packs, so a reader never sees a ref whose objects
//     it cannot find. A received pack's .idx is renamed in before its
//     .pack: go-git lists .pack files and fails on one without an index,
//     git lists .idx files and skips one without a pack.
//   - Every ref write in the process goes through Server.Lock (or
//     LockContext) and compares the current value before writing; refs
//     are replaced through <ref>.lock and rename, packed-refs likewise.
package gitserver
