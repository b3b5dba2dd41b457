package gitserver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// ObjectStore is a read-only go-git object store over a repository's
// objects, read the way the transport reads them (memory-mapped packs,
// cached delta bases) instead of through go-git's own storage, which
// reopens and rescans a pack file for every object: reading thousands of
// objects for one answer (a diff, a grep, a path-filtered log) is several
// times faster this way.
//
// An ObjectStore serves one request and is not safe for concurrent use.
// It sees the packs present when it was opened; since objects are
// installed before any ref names them, resolve the refs a request needs
// before opening it. Close releases the packs.
type ObjectStore struct {
	db *odb
}

var _ storer.EncodedObjectStorer = (*ObjectStore)(nil)

// errReadOnly is returned by ObjectStore's write and iteration methods.
var errReadOnly = errors.New("read-only object store")

// OpenObjectStore opens the objects of the bare repository at repoPath.
func OpenObjectStore(repoPath string) (*ObjectStore, error) {
	if !isRepo(repoPath) {
		return nil, fmt.Errorf("open %s: %w", repoPath, ErrNotFound)
	}
	db, err := openODB(repoPath)
	if err != nil {
		return nil, err
	}
	return &ObjectStore{db: db}, nil
}

// Close releases the pack files; the store must not be used after.
func (s *ObjectStore) Close() { s.db.close() }

// NewEncodedObject returns an empty in-memory object.
func (s *ObjectStore) NewEncodedObject() plumbing.EncodedObject { return &plumbing.MemoryObject{} }

// SetEncodedObject is not supported: writes go through go-git's storage
// (Open) or the server's own writers.
func (s *ObjectStore) SetEncodedObject(plumbing.EncodedObject) (plumbing.Hash, error) {
	return plumbing.ZeroHash, errReadOnly
}

// EncodedObject reads an object; plumbing.ErrObjectNotFound when it is
// missing or not of type t (unless t is AnyObject), as go-git's stores
// answer.
func (s *ObjectStore) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	if !s.db.has(h) {
		return nil, plumbing.ErrObjectNotFound
	}
	typ, data, err := s.db.read(h)
	if err != nil {
		return nil, err
	}
	if t != plumbing.AnyObject && t != typ {
		return nil, plumbing.ErrObjectNotFound
	}
	return &storedObject{hash: h, typ: typ, data: data}, nil
}

// storedObject is an object as read, named by the hash it was read by
// (so decoders need not hash it again). Its data may be shared with the
// delta-base cache: it is only ever handed out through a reader.
type storedObject struct {
	hash plumbing.Hash
	typ  plumbing.ObjectType
	data []byte
}

func (o *storedObject) Hash() plumbing.Hash             { return o.hash }
func (o *storedObject) Type() plumbing.ObjectType       { return o.typ }
func (o *storedObject) SetType(plumbing.ObjectType)     {}
func (o *storedObject) Size() int64                     { return int64(len(o.data)) }
func (o *storedObject) SetSize(int64)                   {}
func (o *storedObject) Writer() (io.WriteCloser, error) { return nil, errReadOnly }
func (o *storedObject) Reader() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(o.data)), nil
}

// Read returns an object's type and content without copying it; the
// content may be shared with the store's cache and must not be modified.
func (s *ObjectStore) Read(h plumbing.Hash) (plumbing.ObjectType, []byte, error) {
	if !s.db.has(h) {
		return plumbing.InvalidObject, nil, plumbing.ErrObjectNotFound
	}
	return s.db.read(h)
}

// IterEncodedObjects is not supported.
func (s *ObjectStore) IterEncodedObjects(plumbing.ObjectType) (storer.EncodedObjectIter, error) {
	return nil, errReadOnly
}

// HasEncodedObject answers nil or plumbing.ErrObjectNotFound.
func (s *ObjectStore) HasEncodedObject(h plumbing.Hash) error {
	if s.db.has(h) {
		return nil
	}
	return plumbing.ErrObjectNotFound
}

// EncodedObjectSize returns an object's size without reading it: from
// its pack entry header, or for a delta from the result size that heads
// the delta data. A loose object is read.
func (s *ObjectStore) EncodedObjectSize(h plumbing.Hash) (int64, error) {
	if p, off, ok := s.db.find(h); ok {
		eh, err := p.header(off)
		if err != nil {
			return 0, err
		}
		if eh.typ != objOFS && eh.typ != objREF {
			return eh.size, nil
		}
		// Two varints, the base's size and the result's: at most 20
		// bytes of inflated data. (The transport branches add the same
		// helper to odb.go; this one can give way to it.)
		head, err := s.db.inflate(p, off+eh.hdrLen, min(eh.size, 20))
		if err != nil {
			return 0, fmt.Errorf("object %s: %w", h, err)
		}
		if _, n := binary.Uvarint(head); n > 0 {
			if size, m := binary.Uvarint(head[n:]); m > 0 {
				return int64(size), nil
			}
		}
		return 0, fmt.Errorf("object %s: corrupt delta header", h)
	} else if !s.db.has(h) {
		return 0, plumbing.ErrObjectNotFound
	}
	_, data, err := s.db.read(h)
	if err != nil {
		return 0, err
	}
	return int64(len(data)), nil
}

// AddAlternate is not supported.
func (s *ObjectStore) AddAlternate(string) error { return errReadOnly }
