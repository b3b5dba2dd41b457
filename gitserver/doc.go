// Package gitserver speaks git: the fetch and push services (upload-pack
// and receive-pack, protocol v0, v1 and v2, written on go-git's
// plumbing), ref updates under a per-repository lock, and repository
// creation. It knows nothing of authentication or JSON; handlers/ (and
// the SSH door) decide who may call it.
//
// The services are streams: Server.UploadPack and Server.ReceivePack read
// the client's requests from an io.Reader and answer on an io.Writer,
// either stateless (smart HTTP: one request per call, the advertisement a
// call of its own) or on one connection (SSH: advertisement, then the
// whole exchange). ServeInfoRefs, ServeUploadPack and ServeReceivePack
// are the smart-HTTP wrappers.
//
// Where things live:
//
//   - stream.go: the stream API and protocol version selection;
//     http.go: the smart-HTTP wrappers (headers, gzip bodies, status
//     codes); advertise.go: the v0 ref advertisement, the v2 capability
//     list and ls-refs.
//   - uploadpack.go: fetch in v0/v1 (want lines, negotiation rounds,
//     shallow updates) and the pack response shared with v2;
//     uploadpack_v2.go: v2 command requests and the sectioned fetch;
//     filter.go: partial-clone filters (blob:none, blob:limit,
//     tree:<depth>, combine).
//   - revwalk.go: history walks (what a fetch sends, shallow boundaries,
//     whether a wanted object is reachable from a ref); packwrite.go:
//     the pack sent to clients, copying stored entries;
//     deltasearch.go: new deltas for the objects whose stored delta
//     cannot be reused; deltaenc.go: the delta encoder (shared with the
//     repack); zsmall.go: compact zlib streams for small entries.
//   - receivepack.go: pushes; indexpack.go: the pushed pack's index,
//     every declared size checked as it streams in; delta.go: checked
//     delta application and bounded inflation (ApplyDelta,
//     InflateBounded) for any untrusted pack; fsck.go: git's fsck rules
//     for pushed objects; pushcert.go: signed pushes and the Push shared
//     by a push's updates; odb.go: raw object access; objectstore.go: a
//     read-only go-git object store over odb.go (for browse, gitdiff and
//     commitfiles);
//     refs.go: ref files; refbatch.go: ref updates in batches and ref
//     packing; refname.go: branch name checks; repo.go: Init,
//     InitialCommit and the ref API used by handlers.
//   - maintain.go: Maintain (repack, pack refs, reachability index);
//     repack.go: the repack's plan, delta search and pack writer;
//     reach.go: the reachability index maintenance writes (the branch
//     and tag tips and a bitmap of the pack entries they reach) and the
//     pack reuse it allows: a clone (blob:none too) is answered with the
//     stored entries, the whole pack verbatim when it is the closure,
//     without walking the history.
//   - fetch.go: the client side, a mirror's sync from an upstream over
//     smart HTTP protocol v2 (ls-refs, negotiated fetch) through the
//     push's quarantine, limits and checks; treediff.go: the files that
//     differ between two commits, streamed in path order.
//   - Sub-packages: merge (three-way merges; merge/linediff is git's
//     line diff, LGPL), diffstat (pull request statistics), archive (ZIP),
//     browse (reading code: contents, trees, grep, log, compare),
//     gitdiff (diffs and patch series byte-identical to git) and
//     commitfiles (a commit from file actions).
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
//   - A fetch serves only objects reachable from a ref (by id too: a
//     partial clone asks for what it left out), never a dangling one. A
//     reachability index is used only when every tip it records is
//     wanted or an ancestor of a wanted commit, so its closure is
//     reachable from what the client was offered.
//   - A pack's reachability index is named by the pack's checksum and
//     describes that pack's entries only; objects never change, so it is
//     never wrong for its pack, only inapplicable once its tips move
//     away (until the next maintenance).
package gitserver
