package gitserver

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
)

// checkPackObjects decides what checkConnectivity decides, for a push
// whose file names nobody needs (no blob over the size limit): the
// pushed objects are sound and connected. Since everything stored was
// checked the same way when it arrived, the push is connected exactly
// when every tip, and every object that a pushed commit, tree or tag
// names, is stored or pushed, with the type it is named as. That needs
// no walk from the tips, so workers check the pushed objects each on its
// own, in pack order, reading through forks of db; only the .gitmodules
// blobs are read at the end. (On a first push of git/git the walk took
// about 15 s on one goroutine.) Pushed objects that were already stored
// are skipped, as the walk skips them.
func checkPackObjects(ctx context.Context, db *odb, rp *receivedPack, tips []plumbing.Hash) error {
	for _, t := range tips {
		if _, ok := rp.byHash[t]; !ok && !db.hasPermanent(t) {
			return fmt.Errorf("missing object %s", t)
		}
	}
	const chunk = 512
	workers := min(runtime.GOMAXPROCS(0), maxResolveWorkers, max(1, len(rp.objects)/chunk))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		at         int // the object whose check failed, for the first error in pack order
		err        error
		gitmodules []plumbing.Hash
	}
	results := make([]result, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		f, err := db.fork(fetchCacheBytes)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &objectChecker{db: f, rp: rp, stored: map[plumbing.Hash]plumbing.ObjectType{}}
			res := &results[w]
			defer func() { res.gitmodules = c.gitmodules }()
			for ctx.Err() == nil {
				start := int(next.Add(chunk)) - chunk
				if start >= len(rp.objects) {
					return
				}
				for i := start; i < min(start+chunk, len(rp.objects)); i++ {
					if err := c.check(i); err != nil {
						res.at, res.err = i, err
						cancel()
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	var first *result
	for w := range results {
		if r := &results[w]; r.err != nil && (first == nil || r.at < first.at) {
			first = r
		}
	}
	if first != nil {
		return first.err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, r := range results {
		if err := checkGitmodules(db, r.gitmodules); err != nil {
			return err
		}
	}
	return nil
}

// objectChecker checks pushed objects one by one for checkPackObjects.
type objectChecker struct {
	db         *odb
	rp         *receivedPack
	stored     map[plumbing.Hash]plumbing.ObjectType // stored objects' types, once looked up
	gitmodules []plumbing.Hash
}

// check checks pushed object i: as fsck does, and that what it names is
// there with the type it is named as.
func (c *objectChecker) check(i int) error {
	o := &c.rp.objects[i]
	if o.typ == objBlob || c.db.hasPermanent(o.hash) {
		return nil
	}
	_, data, err := c.db.read(o.hash)
	if err != nil {
		return err
	}
	switch o.typ {
	case objCommit:
		if p := fsckCommit(data); len(p) > 0 {
			return &fsckError{o.hash, p}
		}
		info, err := parseCommit(data)
		if err != nil {
			return fmt.Errorf("commit %s: %w", o.hash, err)
		}
		if err := c.named(info.tree, objTree); err != nil {
			return err
		}
		for _, p := range info.parents {
			if err := c.named(p, objCommit); err != nil {
				return err
			}
		}
	case objTree:
		problems, mods := fsckTree(data)
		if len(problems) > 0 {
			return &fsckError{o.hash, problems}
		}
		c.gitmodules = append(c.gitmodules, mods...)
		ents, err := parseTree(data)
		if err != nil {
			return fmt.Errorf("tree %s: %w", o.hash, err)
		}
		for _, e := range ents {
			want := objBlob
			switch {
			case e.isGitlnk():
				continue
			case e.isTree():
				want = objTree
			}
			if err := c.named(e.hash, want); err != nil {
				return err
			}
		}
	case objTag:
		if p := fsckTag(data); len(p) > 0 {
			return &fsckError{o.hash, p}
		}
		t, err := parseTag(data)
		if err != nil {
			return fmt.Errorf("tag %s: %w", o.hash, err)
		}
		return c.named(t.target, t.targetType)
	}
	return nil
}

// named checks that an object a pushed one names is stored or pushed,
// with the type want.
func (c *objectChecker) named(h plumbing.Hash, want plumbing.ObjectType) error {
	typ, ok := c.stored[h]
	stored := ok
	if !ok {
		if c.db.hasPermanent(h) {
			t, err := c.db.typeOf(h)
			if err != nil {
				return fmt.Errorf("object %s: %w", h, err)
			}
			typ, stored = t, true
			c.stored[h] = t
		} else if i, in := c.rp.byHash[h]; in {
			typ = c.rp.objects[i].typ
		} else {
			return fmt.Errorf("missing object %s", h)
		}
	}
	if typ != want {
		return &typeError{h, want, typ, stored}
	}
	return nil
}
