package browse

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"tapioca/gitserver"
)

// Tag is one refs/tags/ ref.
type Tag struct {
	Name string
	// SHA is what the ref points to: the tag object of an annotated tag,
	// else the tagged object itself.
	SHA plumbing.Hash
	// Target is the object the tag finally names (tags of tags peeled)
	// and TargetType its type; Commit is Target when that is a commit.
	Target     plumbing.Hash
	TargetType plumbing.ObjectType
	Commit     plumbing.Hash
	// Annotated tags have a tagger and a message.
	Annotated bool
	Tagger    Signature
	Message   string
}

// Tags lists the tags by name (byte order, as git for-each-ref sorts).
func (r *Repo) Tags(ctx context.Context) ([]Tag, error) {
	g, err := gitserver.Open(r.path) // for its ref listing (loose and packed)
	if err != nil {
		return nil, err
	}
	iter, err := g.Tags()
	if err != nil {
		return nil, fmt.Errorf("tags: %w", err)
	}
	var refs []*plumbing.Reference
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() == plumbing.HashReference {
			refs = append(refs, ref)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tags: %w", err)
	}
	if err := r.openObjects(); err != nil {
		return nil, err
	}
	var out []Tag
	for _, ref := range refs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t, err := r.tagOf(strings.TrimPrefix(ref.Name().String(), "refs/tags/"), ref.Hash())
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (r *Repo) tagOf(name string, h plumbing.Hash) (Tag, error) {
	t := Tag{Name: name, SHA: h, Target: h}
	for depth := 0; depth < 16; depth++ {
		o, err := r.st.EncodedObject(plumbing.AnyObject, t.Target)
		if err != nil {
			return t, fmt.Errorf("tag %s: read %s: %w", name, t.Target, err)
		}
		t.TargetType = o.Type()
		if o.Type() != plumbing.TagObject {
			if o.Type() == plumbing.CommitObject {
				t.Commit = t.Target
			}
			return t, nil
		}
		to, err := object.DecodeTag(r.st, o)
		if err != nil {
			return t, fmt.Errorf("tag %s: %w", name, err)
		}
		if depth == 0 {
			t.Annotated = true
			t.Tagger = Signature{to.Tagger.Name, to.Tagger.Email, to.Tagger.When}
			t.Message = to.Message
		}
		t.Target = to.Target
	}
	return t, fmt.Errorf("tag %s: chain of tags too long", name)
}
