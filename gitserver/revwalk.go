package gitserver

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
)

// walker answers the history questions of one request over an odb,
// caching parsed commits and trees.
type walker struct {
	db      *odb
	commits map[plumbing.Hash]*commitNode
	trees   *lru[plumbing.Hash, []treeEntry]
	ctx     context.Context
	steps   int

	// progress, when set, is called every few thousand steps so a long
	// walk can report how far it got.
	progress func()
}

type commitNode struct {
	hash  plumbing.Hash
	info  commitInfo
	flags uint16
	seq   int // insertion order, breaks time ties in the queue
}

// Flags used by the enumeration walk (limit).
const (
	fSeen uint16 = 1 << iota
	fUninteresting
	fExpanded
	fInQueue
	fTheyHave // negotiation: the client has this commit
)

func newWalker(ctx context.Context, db *odb) *walker {
	return &walker{
		db:      db,
		commits: map[plumbing.Hash]*commitNode{},
		trees:   newLRU[plumbing.Hash, []treeEntry](32<<20, treeCost),
		ctx:     ctx,
	}
}

func treeCost(e []treeEntry) int { return 64 + len(e)*56 }

// tick checks for cancellation every few thousand steps; walks can be long
// and the client may have gone away.
func (w *walker) tick() error {
	w.steps++
	if w.steps&4095 == 0 {
		if w.progress != nil {
			w.progress()
		}
		return w.ctx.Err()
	}
	return nil
}

var errNotCommit = errors.New("not a commit")

func (w *walker) commit(h plumbing.Hash) (*commitNode, error) {
	if n, ok := w.commits[h]; ok {
		return n, nil
	}
	typ, data, err := w.db.read(h)
	if err != nil {
		return nil, err
	}
	if typ != objCommit {
		return nil, fmt.Errorf("object %s: %w", h, errNotCommit)
	}
	info, err := parseCommit(data)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	n := &commitNode{hash: h, info: info, seq: len(w.commits)}
	w.commits[h] = n
	return n, nil
}

func (w *walker) tree(h plumbing.Hash) ([]treeEntry, error) {
	if e, ok := w.trees.get(h); ok {
		return e, nil
	}
	typ, data, err := w.db.read(h)
	if err != nil {
		return nil, err
	}
	if typ != objTree {
		return nil, fmt.Errorf("object %s is a %s, expected tree", h, typ)
	}
	ents, err := parseTree(data)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", h, err)
	}
	w.trees.put(h, ents)
	return ents, nil
}

// peel follows tag objects to the first non-tag object. tags receives every
// tag object passed on the way.
func (w *walker) peel(h plumbing.Hash, tags func(plumbing.Hash)) (plumbing.Hash, plumbing.ObjectType, error) {
	for depth := 0; depth < 16; depth++ {
		typ, err := w.db.typeOf(h)
		if err != nil {
			return h, 0, err
		}
		if typ != objTag {
			return h, typ, nil
		}
		if tags != nil {
			tags(h)
		}
		_, data, err := w.db.read(h)
		if err != nil {
			return h, 0, err
		}
		t, err := parseTag(data)
		if err != nil {
			return h, 0, fmt.Errorf("tag %s: %w", h, err)
		}
		h = t.target
	}
	return h, 0, fmt.Errorf("tag chain too long at %s", h)
}

// commitQueue is a max-heap on committer time (newest first), as git's
// revision walk uses.
type commitQueue []*commitNode

func (q commitQueue) Len() int { return len(q) }
func (q commitQueue) Less(i, j int) bool {
	if q[i].info.time != q[j].info.time {
		return q[i].info.time > q[j].info.time
	}
	return q[i].seq < q[j].seq
}
func (q commitQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *commitQueue) Push(x any)   { *q = append(*q, x.(*commitNode)) }
func (q *commitQueue) Pop() any {
	old := *q
	n := old[len(old)-1]
	*q = old[:len(old)-1]
	return n
}

// enumeration is the set of objects a fetch must send, plus the objects
// known to be on the client (usable as thin-pack delta bases).
type enumeration struct {
	objects []plumbing.Hash
	// names holds, for each of objects, the hash of the name it was met
	// under in a tree (0 for others): the pack writer's delta search
	// compares objects of similar names first, as git does.
	names     []uint32
	sending   map[plumbing.Hash]bool
	clientHas map[plumbing.Hash]bool
	// deltaBase maps a tree or blob being sent to the object at the same
	// path in a commit the client has: the base git itself would try for
	// a thin pack.
	deltaBase map[plumbing.Hash]plumbing.Hash

	// filter is the fetch's partial-clone filter (nil for none). A
	// filtered client may lack objects of commits it has, so the pack
	// writer does not rely on those as thin-pack bases.
	filter *objectFilter
	// walkedAt is the shallowest depth each tree was walked at, kept
	// only under a tree:<depth> filter: a tree first met deep (children
	// left out) must be walked again when met shallower.
	walkedAt map[plumbing.Hash]int
	// omitted caches the blobs blob:limit left out, so each size is
	// read once.
	omitted map[plumbing.Hash]bool

	// reuse, when set, are stored entries sent first, besides objects
	// (which never holds one of them).
	reuse *packReuse
}

// has reports whether h is in the pack, as an object or a reused entry.
func (en *enumeration) has(h plumbing.Hash) bool { return en.sending[h] || en.reuse.sends(h) }

// count is the number of objects in the pack.
func (en *enumeration) count() int {
	if en.reuse != nil {
		return len(en.objects) + en.reuse.count
	}
	return len(en.objects)
}

// setReuse sends ru's entries first and drops them from objects.
func (en *enumeration) setReuse(ru *packReuse) {
	en.reuse = ru
	objs, names := en.objects[:0], en.names[:0]
	for i, h := range en.objects {
		if ru.sends(h) {
			delete(en.sending, h)
			continue
		}
		objs = append(objs, h)
		if i < len(en.names) {
			names = append(names, en.names[i])
		}
	}
	en.objects, en.names = objs, names
}

// add puts h in the pack unless it is already there or on the client.
func (en *enumeration) add(h plumbing.Hash) { en.addNamed(h, 0) }

// addNamed is add for an object met in a tree under a name of that hash.
func (en *enumeration) addNamed(h plumbing.Hash, name uint32) {
	if !en.sending[h] && !en.clientHas[h] {
		en.sending[h] = true
		en.objects = append(en.objects, h)
		en.names = append(en.names, name)
	}
}

// nameHash is git's pack_name_hash: a number that sorts names by their
// last sixteen non-space characters, so that files of one name (or one
// extension) end up next to each other.
func nameHash(name []byte) uint32 {
	var h uint32
	for _, c := range name {
		h = nameHashStep(h, c)
	}
	return h
}

// nameHashStep extends a nameHash by one byte, so a walk can hash a
// path from its directory's hash ("dir" + "/" + "name").
func nameHashStep(h uint32, c byte) uint32 {
	if c == ' ' || c >= '\t' && c <= '\r' {
		return h
	}
	return h>>2 + uint32(c)<<24
}

// enumerate lists the objects reachable from wants but not from haves.
// Commits in cut are treated as having no parents (shallow boundaries).
//
// The commit walk is git's limit_list: a newest-first walk that carries
// "uninteresting" down from the haves and stops once only uninteresting
// commits are queued. Trees are then walked oldest commit first, each
// against the trees of its uninteresting parents: an entry equal to one
// of theirs is on the client, and a differing one is descended into
// alongside theirs. Everything else is deduplicated by hash, which is
// sound because a tree is only ever marked once its whole content is
// either sent or on the client. (Skipping entries equal to an interesting
// parent's, trusting that parent's walk to send them, is not: that walk
// stops at trees already sent, and histories that revert content make it
// miss objects.) Oldest first lets the client's objects be marked before
// newer commits reach the same paths, so the client's trees are never
// walked whole.
//
// A filter leaves trees and blobs out as `git rev-list --filter` does,
// except those a want names.
func (w *walker) enumerate(wants, haves []plumbing.Hash, cut map[plumbing.Hash]bool, clientCommits []plumbing.Hash, filter *objectFilter) (*enumeration, error) {
	en := &enumeration{
		sending:   map[plumbing.Hash]bool{},
		clientHas: map[plumbing.Hash]bool{},
		deltaBase: map[plumbing.Hash]plumbing.Hash{},
		filter:    filter,
		omitted:   map[plumbing.Hash]bool{},
	}
	if filter != nil && filter.treeDepth >= 0 {
		en.walkedAt = map[plumbing.Hash]int{}
	}

	var uninteresting []*commitNode
	for _, h := range haves {
		target, typ, err := w.peel(h, func(t plumbing.Hash) { en.clientHas[t] = true })
		if err != nil {
			continue // haves are hints; an unreadable one only costs bytes
		}
		switch typ {
		case objCommit:
			n, err := w.commit(target)
			if err != nil {
				continue
			}
			n.flags |= fUninteresting
			uninteresting = append(uninteresting, n)
		default:
			en.clientHas[target] = true
		}
	}

	var interesting []*commitNode
	var rootTrees []plumbing.Hash
	for _, h := range wants {
		target, typ, err := w.peel(h, func(t plumbing.Hash) { en.add(t) })
		if err != nil {
			return nil, fmt.Errorf("want %s: %w", h, err)
		}
		switch typ {
		case objCommit:
			n, err := w.commit(target)
			if err != nil {
				return nil, err
			}
			interesting = append(interesting, n)
		case objTree:
			rootTrees = append(rootTrees, target)
		default:
			en.add(target)
		}
	}

	result, err := w.limit(interesting, uninteresting, cut)
	if err != nil {
		return nil, err
	}
	for _, c := range result {
		en.add(c.hash)
	}
	if !filter.includesAt(0) {
		// tree:0: commits only, and what the wants name.
		for _, t := range rootTrees {
			if err := w.walkTree(en, t, 0, nil, nil, -1); err != nil {
				return nil, err
			}
		}
		return en, nil
	}

	edges, err := w.edgeTrees(result, cut, clientCommits)
	if err != nil {
		return nil, err
	}
	inResult := make(map[plumbing.Hash]bool, len(result))
	for _, c := range result {
		inResult[c.hash] = true
	}
	for i := len(result) - 1; i >= 0; i-- {
		c := result[i]
		if err := w.tick(); err != nil {
			return nil, err
		}
		var clientTrees, parentTrees []plumbing.Hash
		if !cut[c.hash] {
			for _, ph := range c.info.parents {
				p, err := w.commit(ph)
				if err != nil {
					return nil, err
				}
				switch {
				case p.flags&fUninteresting != 0:
					clientTrees = append(clientTrees, p.info.tree)
				case inResult[ph] && p.info.tree != c.info.tree:
					parentTrees = append(parentTrees, p.info.tree)
				}
			}
		}
		for _, t := range edges {
			if len(clientTrees) >= maxClientTrees {
				break
			}
			if !slices.Contains(clientTrees, t) {
				clientTrees = append(clientTrees, t)
			}
		}
		if err := w.walkTree(en, c.info.tree, 0, clientTrees, parentTrees, 0); err != nil {
			return nil, err
		}
	}
	for _, t := range rootTrees {
		// A tree named by a want is sent whatever the filter; its
		// entries are at depth 0, as git counts.
		if err := w.walkTree(en, t, 0, nil, nil, -1); err != nil {
			return nil, err
		}
	}
	return en, nil
}

// maxClientTrees bounds the client trees each commit's tree is compared
// with; each costs a parallel walk of the paths that differ.
const maxClientTrees = 4

// edgeTrees returns the trees of the most recent commits the client has
// next to the commits being sent: their uninteresting parents, and
// clientCommits (commits being unshallowed, whose parents are sent). Any
// tree the client has is a valid counterpart for any commit, and these
// are the likeliest to share most of it, so that a deepened shallow
// clone, or the newest commit of a long range, is not sent whole.
func (w *walker) edgeTrees(result []*commitNode, cut map[plumbing.Hash]bool, clientCommits []plumbing.Hash) ([]plumbing.Hash, error) {
	seen := map[plumbing.Hash]bool{}
	var edges []*commitNode
	for _, h := range clientCommits {
		if n, err := w.commit(h); err == nil && !seen[h] {
			seen[h] = true
			edges = append(edges, n)
		}
	}
	for _, c := range result {
		if cut[c.hash] {
			continue
		}
		for _, ph := range c.info.parents {
			p, err := w.commit(ph)
			if err != nil {
				return nil, err
			}
			if p.flags&fUninteresting != 0 && !seen[ph] {
				seen[ph] = true
				edges = append(edges, p)
			}
		}
	}
	sort.SliceStable(edges, func(i, j int) bool { return edges[i].info.time > edges[j].info.time })
	var trees []plumbing.Hash
	for _, e := range edges {
		if len(trees) == maxClientTrees-1 {
			break // leave room for the commit's own parents
		}
		if !slices.Contains(trees, e.info.tree) {
			trees = append(trees, e.info.tree)
		}
	}
	return trees, nil
}

// walkTree adds tree h and what it holds, except what the client has
// and what the filter leaves out. clientTrees are the trees at the same
// path in commits the client has: equal entries are on the client; a
// changed file's previous version there is the delta base a thin pack
// may use. parentTrees are the trees at the same path in parents being
// sent, walked before (oldest first): where one of their subtrees turned
// out to be on the client, that subtree is compared with too. Without
// them a topic branch forked long ago resends, below every directory it
// touches, the old versions of files it did not touch, which the client
// has in the fork point's tree (on git/git, 754 objects for 56 commits
// where git sends 320). name is nameHash of the entry naming h; depth
// is h's depth below the commit (0 for a root tree).
func (w *walker) walkTree(en *enumeration, h plumbing.Hash, name uint32, clientTrees, parentTrees []plumbing.Hash, depth int) error {
	if en.clientHas[h] {
		return nil
	}
	if en.sending[h] {
		if d, ok := en.walkedAt[h]; !ok || d <= depth {
			return nil
		}
	}
	for _, c := range clientTrees {
		if c == h {
			en.clientHas[h] = true
			return nil
		}
	}
	if err := w.tick(); err != nil {
		return err
	}
	en.addNamed(h, name)
	if en.walkedAt != nil {
		en.walkedAt[h] = depth
	}
	childIn := en.filter.includesAt(depth + 1)
	for _, c := range clientTrees {
		en.clientHas[c] = true
		en.setDeltaBase(h, c)
	}
	ents, err := w.tree(h)
	if err != nil {
		return err
	}
	cps := make([][]treeEntry, len(clientTrees))
	for i, c := range clientTrees {
		if cps[i], err = w.tree(c); err != nil {
			return err
		}
	}
	pps := make([][]treeEntry, len(parentTrees))
	for i, p := range parentTrees {
		if pps[i], err = w.tree(p); err != nil {
			return err
		}
	}
	cursor := make([]int, len(cps))
	pcursor := make([]int, len(pps))
	pents := make([]treeEntry, len(pps))
	pfound := make([]bool, len(pps))
	var sub, subParents []plumbing.Hash
entries:
	for _, e := range ents {
		if e.isGitlnk() || !childIn {
			continue
		}
		// An entry that a parent being sent has at the same path was dealt
		// with when that parent was walked (its walk is complete, at this
		// same depth). That is most entries of most trees, answered here
		// without looking each up in the sets: on a clone of git/git
		// those lookups were a quarter of the server's CPU.
		for k, pe := range pps {
			pents[k], pfound[k] = sameName(pe, &pcursor[k], e)
			if pfound[k] && pents[k].hash == e.hash {
				continue entries
			}
		}
		if en.clientHas[e.hash] {
			continue
		}
		if en.sending[e.hash] && (en.walkedAt == nil || !e.isTree()) {
			continue
		}
		same := false
		sub, subParents = sub[:0], subParents[:0]
		for k := range pps {
			p, ok := pents[k], pfound[k]
			switch {
			case !ok || p.isTree() != e.isTree():
			case en.clientHas[p.hash] && e.isTree():
				sub = addClientTree(sub, p.hash)
			case en.clientHas[p.hash]:
				en.setDeltaBase(e.hash, p.hash)
			case e.isTree() && !slices.Contains(subParents, p.hash):
				subParents = append(subParents, p.hash)
			}
		}
		for k, ce := range cps {
			c, ok := sameName(ce, &cursor[k], e)
			if !ok {
				continue
			}
			if c.hash == e.hash {
				same = true
				break
			}
			if e.isTree() {
				sub = addClientTree(sub, c.hash)
			} else {
				// The previous version of a changed file: the likeliest
				// delta base.
				en.clientHas[c.hash] = true
				en.setDeltaBase(e.hash, c.hash)
			}
		}
		if same {
			en.clientHas[e.hash] = true
			continue
		}
		if e.isTree() {
			if err := w.walkTree(en, e.hash, nameHash(e.name), slices.Clone(sub), slices.Clone(subParents), depth+1); err != nil {
				return err
			}
		} else if w.blobPasses(en, e.hash) {
			en.addNamed(e.hash, nameHash(e.name))
		}
	}
	return nil
}

// sameName advances *cur through ents, a tree's sorted entries, to e's
// name (callers go through e's tree in order) and returns the entry
// there, if ents has one of that name.
func sameName(ents []treeEntry, cur *int, e treeEntry) (treeEntry, bool) {
	for *cur < len(ents) && compareEntries(ents[*cur], e) < 0 {
		*cur++
	}
	if *cur >= len(ents) || compareEntries(ents[*cur], e) != 0 {
		return treeEntry{}, false
	}
	return ents[*cur], true
}

// addClientTree adds a client tree to compare a subtree with, up to
// maxClientTrees.
func addClientTree(sub []plumbing.Hash, h plumbing.Hash) []plumbing.Hash {
	if len(sub) < maxClientTrees && !slices.Contains(sub, h) {
		sub = append(sub, h)
	}
	return sub
}

// setDeltaBase records base as h's thin-pack delta base unless one is.
func (en *enumeration) setDeltaBase(h, base plumbing.Hash) {
	if _, ok := en.deltaBase[h]; !ok {
		en.deltaBase[h] = base
	}
}

// blobPasses applies the filter's size limit to a blob met in a tree.
func (w *walker) blobPasses(en *enumeration, h plumbing.Hash) bool {
	f := en.filter
	switch {
	case f == nil || f.blobLimit < 0:
		return true
	case f.blobLimit == 0 || en.omitted[h]:
		return false
	}
	size, err := w.db.sizeOf(h)
	if err != nil {
		// As git: a size that cannot be read is no reason to leave the
		// blob out; reading it for the pack will report the problem.
		return true
	}
	if size >= f.blobLimit {
		en.omitted[h] = true
		return false
	}
	return true
}

// limit walks commits newest first from interesting and uninteresting
// tips and returns the interesting commits not reachable from an
// uninteresting one, newest first.
func (w *walker) limit(interesting, uninteresting []*commitNode, cut map[plumbing.Hash]bool) ([]*commitNode, error) {
	q := &commitQueue{}
	live := 0 // interesting commits in the queue
	push := func(n *commitNode) {
		n.flags |= fSeen | fInQueue
		if n.flags&fUninteresting == 0 {
			live++
		}
		heap.Push(q, n)
	}
	for _, n := range uninteresting {
		if n.flags&fSeen == 0 {
			push(n)
		}
	}
	for _, n := range interesting {
		if n.flags&fSeen == 0 {
			push(n)
		}
	}
	var result []*commitNode
	for q.Len() > 0 && live > 0 {
		if err := w.tick(); err != nil {
			return nil, err
		}
		n := heap.Pop(q).(*commitNode)
		n.flags &^= fInQueue
		n.flags |= fExpanded
		unint := n.flags&fUninteresting != 0
		if !unint {
			live--
			result = append(result, n)
		}
		if cut[n.hash] {
			continue
		}
		for _, ph := range n.info.parents {
			p, err := w.commit(ph)
			if err != nil {
				if unint {
					continue // only the client's side of history; not fatal
				}
				return nil, err
			}
			if unint {
				w.markUninteresting(p, cut, &live)
			}
			if p.flags&fSeen == 0 {
				push(p)
			}
		}
	}
	out := result[:0]
	for _, n := range result {
		if n.flags&fUninteresting == 0 {
			out = append(out, n)
		}
	}
	return out, nil
}

// markUninteresting flags n and, through commits already expanded, its
// ancestors; queued commits carry the flag down when they are expanded.
func (w *walker) markUninteresting(n *commitNode, cut map[plumbing.Hash]bool, live *int) {
	stack := []*commitNode{n}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if c.flags&fUninteresting != 0 {
			continue
		}
		c.flags |= fUninteresting
		if c.flags&fInQueue != 0 {
			*live--
		}
		if c.flags&fExpanded != 0 && !cut[c.hash] {
			for _, ph := range c.info.parents {
				if p := w.commits[ph]; p != nil {
					stack = append(stack, p)
				}
			}
		}
	}
}

// canAllReach is upload-pack's ok_to_give_up: every wanted commit reaches
// a commit the client has, looking no further back than minTime.
func (w *walker) canAllReach(wants []plumbing.Hash, minTime int64) bool {
	for _, h := range wants {
		target, typ, err := w.peel(h, nil)
		if err != nil {
			return false
		}
		if typ != objCommit {
			continue // as git: ancestry cannot tell, so do not wait for it
		}
		if !w.reachesTheyHave(target, minTime) {
			return false
		}
	}
	return true
}

func (w *walker) reachesTheyHave(start plumbing.Hash, minTime int64) bool {
	visited := map[plumbing.Hash]bool{start: true}
	stack := []plumbing.Hash{start}
	for len(stack) > 0 {
		if w.tick() != nil {
			return false
		}
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n, err := w.commit(h)
		if err != nil {
			continue
		}
		if n.flags&fTheyHave != 0 {
			return true
		}
		if n.info.time < minTime {
			continue
		}
		for _, p := range n.info.parents {
			if !visited[p] {
				visited[p] = true
				stack = append(stack, p)
			}
		}
	}
	return false
}

// shallowByDepth is git's get_shallow_commits: walking from starts, the
// commits at distance depth-1 become the new shallow boundary; those
// closer are returned as notShallow.
func (w *walker) shallowByDepth(starts []plumbing.Hash, depth int) (boundary []plumbing.Hash, notShallow map[plumbing.Hash]bool, err error) {
	notShallow = map[plumbing.Hash]bool{}
	visited := map[plumbing.Hash]bool{}
	var level []plumbing.Hash
	for _, h := range starts {
		target, typ, err := w.peel(h, nil)
		if err != nil {
			return nil, nil, err
		}
		if typ == objCommit && !visited[target] {
			visited[target] = true
			level = append(level, target)
		}
	}
	for d := 0; len(level) > 0; d++ {
		var next []plumbing.Hash
		for _, h := range level {
			if err := w.tick(); err != nil {
				return nil, nil, err
			}
			if d+1 >= depth {
				boundary = append(boundary, h)
				continue
			}
			notShallow[h] = true
			n, err := w.commit(h)
			if err != nil {
				return nil, nil, err
			}
			for _, p := range n.info.parents {
				if !visited[p] {
					visited[p] = true
					next = append(next, p)
				}
			}
		}
		level = next
	}
	return boundary, notShallow, nil
}

// shallowByRevList serves deepen-since and deepen-not: the commits
// reachable from wants, newer than since and not reachable from notTips;
// those with a parent outside the set become the boundary.
func (w *walker) shallowByRevList(wants []plumbing.Hash, since int64, notTips []plumbing.Hash) (boundary []plumbing.Hash, notShallow map[plumbing.Hash]bool, err error) {
	excluded := map[plumbing.Hash]bool{}
	stack := []plumbing.Hash{}
	for _, h := range notTips {
		if target, typ, err := w.peel(h, nil); err == nil && typ == objCommit {
			stack = append(stack, target)
		}
	}
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if excluded[h] {
			continue
		}
		if err := w.tick(); err != nil {
			return nil, nil, err
		}
		excluded[h] = true
		n, err := w.commit(h)
		if err != nil {
			return nil, nil, err
		}
		stack = append(stack, n.info.parents...)
	}

	included := map[plumbing.Hash]bool{}
	var order []*commitNode
	for _, h := range wants {
		if target, typ, err := w.peel(h, nil); err == nil && typ == objCommit {
			stack = append(stack, target)
		}
	}
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if included[h] || excluded[h] {
			continue
		}
		if err := w.tick(); err != nil {
			return nil, nil, err
		}
		n, err := w.commit(h)
		if err != nil {
			return nil, nil, err
		}
		if since > 0 && n.info.time < since {
			continue
		}
		included[h] = true
		order = append(order, n)
		stack = append(stack, n.info.parents...)
	}
	if len(included) == 0 {
		return nil, nil, errors.New("no commits selected for shallow requests")
	}
	notShallow = map[plumbing.Hash]bool{}
	for _, n := range order {
		border := false
		for _, p := range n.info.parents {
			if !included[p] {
				border = true
				break
			}
		}
		if border {
			boundary = append(boundary, n.hash)
		} else {
			notShallow[n.hash] = true
		}
	}
	return boundary, notShallow, nil
}

// reachableFrom reports which of targets (commits) are reachable from
// tips. It stops as soon as all are found.
func (w *walker) reachableFrom(targets []plumbing.Hash, tips []plumbing.Hash) (map[plumbing.Hash]bool, error) {
	want := map[plumbing.Hash]bool{}
	for _, t := range targets {
		want[t] = true
	}
	found := map[plumbing.Hash]bool{}
	visited := map[plumbing.Hash]bool{}
	var stack []plumbing.Hash
	for _, t := range tips {
		if target, typ, err := w.peel(t, nil); err == nil && typ == objCommit {
			stack = append(stack, target)
		}
	}
	for len(stack) > 0 && len(found) < len(want) {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if visited[h] {
			continue
		}
		visited[h] = true
		if err := w.tick(); err != nil {
			return nil, err
		}
		if want[h] {
			found[h] = true
		}
		n, err := w.commit(h)
		if err != nil {
			continue
		}
		stack = append(stack, n.info.parents...)
	}
	return found, nil
}

// isAncestor reports whether old is an ancestor of (or equal to) new,
// painting down from both by date like git's in_merge_bases; it stops as
// soon as new's paint reaches old or no unfinished paths remain.
func (w *walker) isAncestor(old, new plumbing.Hash) (bool, error) {
	if old == new {
		return true, nil
	}
	const (
		p1 = 1 << iota
		p2
		stale
	)
	type paint struct {
		n      *commitNode
		flags  int
		queued int
	}
	nodes := map[plumbing.Hash]*paint{}
	nonStale := 0
	q := &commitQueue{} // the paint of a queued commit is nodes[hash]
	get := func(h plumbing.Hash) (*paint, error) {
		if p, ok := nodes[h]; ok {
			return p, nil
		}
		n, err := w.commit(h)
		if err != nil {
			return nil, err
		}
		p := &paint{n: n}
		nodes[h] = p
		return p, nil
	}
	put := func(p *paint) {
		p.queued++
		if p.flags&stale == 0 {
			nonStale++
		}
		heap.Push(q, p.n)
	}
	setFlags := func(p *paint, f int) {
		if p.flags&stale == 0 && f&stale != 0 {
			nonStale -= p.queued
		}
		p.flags |= f
	}
	po, err := get(old)
	if err != nil {
		return false, err
	}
	pn, err := get(new)
	if err != nil {
		return false, err
	}
	setFlags(po, p1)
	put(po)
	setFlags(pn, p2)
	put(pn)
	for nonStale > 0 {
		if err := w.tick(); err != nil {
			return false, err
		}
		p := nodes[heap.Pop(q).(*commitNode).hash]
		p.queued--
		if p.flags&stale == 0 {
			nonStale--
		}
		flags := p.flags & (p1 | p2 | stale)
		if flags&(p1|p2) == p1|p2 {
			flags |= stale
		}
		for _, ph := range p.n.info.parents {
			pp, err := get(ph)
			if err != nil {
				return false, err
			}
			if pp.flags&flags == flags {
				continue
			}
			setFlags(pp, flags)
			if pp == po && pp.flags&p2 != 0 {
				return true, nil
			}
			put(pp)
		}
	}
	return po.flags&p2 != 0, nil
}

// unreachableWant returns the first want that is neither a ref tip (or
// its peeled value) nor reachable from one (zero if there is none): git's
// allow-reachable-sha1-in-want, for objects of any type. Stateless HTTP
// makes wanting a non-tip commit normal (a ref may move between the
// advertisement and the POST), and a partial clone later asks for the
// trees and blobs it left out, by id.
func (w *walker) unreachableWant(refs []ref, wants []plumbing.Hash) (plumbing.Hash, error) {
	tips := map[plumbing.Hash]bool{}
	for _, r := range refs {
		tips[r.hash] = true
	}
	var pending []plumbing.Hash
	for _, h := range wants {
		if tips[h] {
			continue
		}
		if !w.db.has(h) {
			return h, nil
		}
		pending = append(pending, h)
	}
	if len(pending) == 0 {
		return plumbing.ZeroHash, nil
	}
	// Peeled tag targets count as tips.
	var tipList []plumbing.Hash
	for _, r := range refs {
		tipList = append(tipList, r.hash)
		target, _, err := w.peel(r.hash, func(tag plumbing.Hash) { tips[tag] = true })
		if err == nil {
			tips[target] = true
		}
	}
	var commits, others []plumbing.Hash
	for _, h := range pending {
		if tips[h] {
			continue
		}
		typ, err := w.db.typeOf(h)
		switch {
		case err != nil:
			return h, nil
		case typ == objCommit:
			commits = append(commits, h)
		case typ == objTree || typ == objBlob:
			others = append(others, h)
		default:
			return h, nil // a tag object no ref leads to
		}
	}
	if len(commits) > 0 {
		found, err := w.reachableFrom(commits, tipList)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		for _, h := range commits {
			if !found[h] {
				return h, nil
			}
		}
	}
	if len(others) > 0 {
		missing, err := w.findInTrees(others, tipList)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if len(missing) > 0 {
			return missing[0], nil
		}
	}
	return plumbing.ZeroHash, nil
}

// findInTrees looks for trees and blobs in the history of tips and
// returns those it cannot find, in the order given. It searches the
// trees of the tips first, where the objects a partial clone fetches
// on demand (for a checkout) usually are, then the commits behind them
// newest first, so that finding recent objects does not walk the whole
// history; each distinct tree is read once.
func (w *walker) findInTrees(targets []plumbing.Hash, tips []plumbing.Hash) ([]plumbing.Hash, error) {
	left := make(map[plumbing.Hash]bool, len(targets))
	for _, h := range targets {
		left[h] = true
	}
	seen := map[plumbing.Hash]bool{}
	var stack []plumbing.Hash
	search := func(root plumbing.Hash) error {
		stack = append(stack[:0], root)
		for len(stack) > 0 && len(left) > 0 {
			t := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[t] {
				continue
			}
			seen[t] = true
			delete(left, t)
			if err := w.tick(); err != nil {
				return err
			}
			ents, err := w.tree(t)
			if err != nil {
				return err
			}
			for _, e := range ents {
				switch {
				case e.isGitlnk():
				case e.isTree():
					if !seen[e.hash] {
						stack = append(stack, e.hash)
					}
				default:
					delete(left, e.hash)
				}
			}
		}
		return nil
	}

	var heads []*commitNode
	for _, t := range tips {
		target, typ, err := w.peel(t, nil)
		if err != nil {
			continue
		}
		switch typ {
		case objCommit:
			n, err := w.commit(target)
			if err != nil {
				continue
			}
			heads = append(heads, n)
			if err := search(n.info.tree); err != nil {
				return nil, err
			}
		case objTree:
			if err := search(target); err != nil {
				return nil, err
			}
		}
	}
	q := &commitQueue{}
	queued := map[plumbing.Hash]bool{}
	for _, n := range heads {
		if !queued[n.hash] {
			queued[n.hash] = true
			heap.Push(q, n)
		}
	}
	for q.Len() > 0 && len(left) > 0 {
		n := heap.Pop(q).(*commitNode)
		if err := search(n.info.tree); err != nil {
			return nil, err
		}
		for _, ph := range n.info.parents {
			if queued[ph] {
				continue
			}
			queued[ph] = true
			p, err := w.commit(ph)
			if err != nil {
				continue // a shallow or damaged history: search what there is
			}
			heap.Push(q, p)
		}
	}
	var missing []plumbing.Hash
	for _, h := range targets {
		if left[h] {
			missing = append(missing, h)
		}
	}
	return missing, nil
}
