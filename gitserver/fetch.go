package gitserver

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// The fetch client: a mirror of an upstream repository is brought up to
// date over smart HTTP or SSH (fetch_ssh.go), protocol v2 (ls-refs, then
// fetch with real negotiation, so a sync after a push moves only the new
// objects). The
// pack that arrives goes through the same quarantine, indexer, limits
// and connectivity check as a push, and the mirror's refs move by
// compare-and-swap under the repository lock, which the whole sync
// holds: one sync at a time per mirror.

// Upstream is a repository to fetch from over smart HTTP or SSH.
type Upstream struct {
	// URL is the repository's http(s) URL without credentials
	// (https://host/owner/repo.git), or an SSH address:
	// ssh://[user@]host[:port]/path or user@host:path.
	URL string
	// Client makes the requests; the app's is guarded against reaching
	// refused networks. Nil is http.DefaultClient.
	Client *http.Client
	// Username and Password, when either is set, go as HTTP Basic
	// credentials (Username "x-access-token" when only a password is
	// given): GitHub, Gitea and Tapioca take a token as the password.
	Username, Password string
	// SSH is how an SSH address is reached; required for one.
	SSH *SSHAuth
}

// ErrUpstreamNotReadable is returned when the upstream answers 401, 403
// or 404: the repository does not exist, or these credentials cannot
// read it (hosts do not say which).
var ErrUpstreamNotReadable = errors.New("upstream repository not found, or not readable with these credentials")

// ErrUpstreamProtocol is returned when the upstream does not answer as a
// smart HTTP git server speaking protocol v2.
var ErrUpstreamProtocol = errors.New("upstream protocol error")

// RemoteRef is one ref an upstream advertises.
type RemoteRef struct {
	Name   string
	Hash   plumbing.Hash
	Peeled plumbing.Hash // for an annotated tag, the object it names; zero otherwise
}

// RemoteRefs is what an upstream's ls-refs answered for HEAD, branches
// and tags.
type RemoteRefs struct {
	// HEAD is the ref HEAD names (refs/heads/main), "" when HEAD is
	// detached or the upstream did not say.
	HEAD string
	// Refs are the branches and tags, sorted by name.
	Refs []RemoteRef
	// HostKey is the SSH server's host key (authorized_keys form), for
	// the caller to pin; "" over HTTP.
	HostKey string
}

// Limits on what an upstream may send outside the pack.
const (
	maxAdvertisement = 64 << 10
	maxRemoteRefs    = 100_000
	// maxNegotiationHaves ends negotiation after this many haves without
	// an acknowledgment, as git's MAX_IN_VAIN: the histories share
	// nothing recent, and the pack is cut from what is known.
	maxNegotiationHaves = 256
	fetchUserAgent      = "git/tapioca-" + Agent
)

// ListRemote asks the upstream for its HEAD, branches and tags: the
// check that a repository exists and these credentials read it.
func ListRemote(ctx context.Context, up Upstream) (*RemoteRefs, error) {
	c, err := dialUpstream(ctx, up)
	if err != nil {
		return nil, err
	}
	defer c.close()
	if err := c.capabilities(ctx); err != nil {
		return nil, err
	}
	refs, err := c.lsRefs(ctx)
	if err != nil {
		return nil, err
	}
	refs.HostKey = c.t.hostKey()
	return refs, nil
}

// FetchResult is what a mirror sync did.
type FetchResult struct {
	// HEAD is the branch the upstream's HEAD names, now the mirror's
	// HEAD too ("" when the upstream did not say).
	HEAD string
	// Updates are the refs that moved in the mirror: Old zero for a new
	// ref, New zero for one deleted upstream.
	Updates []RefUpdate
	// Objects is how many objects the received pack held; PackBytes its
	// size; Haves how many commits negotiation offered.
	Objects   int
	PackBytes int64
	Haves     int
	// HostKey is the SSH server's host key (authorized_keys form), for
	// the caller to pin; "" over HTTP.
	HostKey string
}

// FetchMirror brings the bare repository at repoPath (created if
// missing) up to date with the upstream's branches and tags: a mirror.
// Refs deleted upstream are deleted; the mirror's HEAD follows the
// upstream's. The push limits apply to what arrives (the repository
// size limit, the file size limit) and the pack is checked for
// connectivity before any ref points into it. The repository lock is
// held throughout, so syncs of one mirror take turns.
func (s *Server) FetchMirror(ctx context.Context, repoPath string, up Upstream) (*FetchResult, error) {
	unlock, err := s.LockContext(ctx, repoPath)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if !isRepo(repoPath) {
		if err := s.Init(ctx, repoPath, DefaultBranch); err != nil {
			return nil, fmt.Errorf("create mirror: %w", err)
		}
	}
	c, err := dialUpstream(ctx, up)
	if err != nil {
		return nil, err
	}
	defer c.close()
	if err := c.capabilities(ctx); err != nil {
		return nil, err
	}
	remote, err := c.lsRefs(ctx)
	if err != nil {
		return nil, err
	}
	res := &FetchResult{HEAD: remote.HEAD, HostKey: c.t.hostKey()}

	local, _, err := listRefs(repoPath, "refs/")
	if err != nil {
		return nil, err
	}
	db, err := openODB(repoPath)
	if err != nil {
		return nil, err
	}
	defer func() { db.close() }()
	var wants []plumbing.Hash
	seen := map[plumbing.Hash]bool{}
	for _, r := range remote.Refs {
		if !seen[r.Hash] && !db.has(r.Hash) {
			wants = append(wants, r.Hash)
		}
		seen[r.Hash] = true
	}

	var rp *receivedPack
	if len(wants) > 0 {
		w := newWalker(ctx, db)
		pack, haves, err := c.negotiate(ctx, w, wants, local)
		res.Haves = haves
		if err != nil {
			return nil, err
		}
		defer pack.close()
		rp, err = s.receivePack(ctx, repoPath, pack)
		if errors.Is(err, errPackTooLarge) {
			return nil, fmt.Errorf("the upstream's objects would make the mirror larger than the %s repository size limit", formatSize(s.cfg.MaxRepoSize))
		}
		if err != nil {
			return nil, fmt.Errorf("receive pack: %w", err)
		}
		defer os.RemoveAll(filepath.Dir(rp.packPath))
		// Anything after the pack (progress, an error on band 3) ends
		// the response; an error there means the pack cannot be trusted.
		if err := pack.finish(); err != nil {
			return nil, err
		}
		res.Objects, res.PackBytes = len(rp.objects), rp.size
		if len(rp.objects) > 0 {
			if err := db.addPack(rp.packPath, rp.idx, true); err != nil {
				return nil, err
			}
		}
		if err := s.checkFetched(newWalker(ctx, db), rp, wants); err != nil {
			return nil, err
		}
	}
	for _, r := range remote.Refs {
		if !strings.HasPrefix(r.Name, "refs/heads/") {
			continue
		}
		if typ, err := db.typeOf(r.Hash); err != nil || typ != objCommit {
			return nil, fmt.Errorf("%w: branch %s names %s, which is not a commit", ErrUpstreamProtocol, r.Name, r.Hash)
		}
	}
	// The quarantined pack is renamed into place next; on Windows an
	// open file cannot be.
	db.close()
	if rp != nil && len(rp.objects) > 0 {
		if err := rp.install(repoPath); err != nil {
			return nil, err
		}
	}
	res.Updates, err = mirrorRefs(repoPath, local, remote)
	if err != nil {
		return res, err
	}
	if remote.HEAD != "" {
		if cur, err := readHEAD(repoPath); err == nil && cur != remote.HEAD {
			if err := writeFileLocked(filepath.Join(repoPath, "HEAD"), []byte("ref: "+remote.HEAD+"\n")); err != nil {
				return res, fmt.Errorf("set mirror HEAD: %w", err)
			}
		}
	}
	return res, nil
}

// checkFetched applies a push's checks to a fetched pack: every wanted
// object's closure is complete (stored objects end the walk), and no new
// file is over the file size limit.
func (s *Server) checkFetched(w *walker, rp *receivedPack, wants []plumbing.Hash) error {
	if len(rp.objects) == 0 {
		for _, h := range wants {
			if !w.db.has(h) {
				return fmt.Errorf("%w: the upstream did not send %s", ErrUpstreamProtocol, h)
			}
		}
		return nil
	}
	paths, err := checkConnectivity(w, rp, wants, s.cfg.MaxFileSize)
	if err != nil {
		return fmt.Errorf("%w: the upstream's pack is incomplete: %w", ErrUpstreamProtocol, err)
	}
	if s.cfg.MaxFileSize <= 0 {
		return nil
	}
	for _, o := range rp.objects {
		if o.typ != objBlob || o.size <= s.cfg.MaxFileSize || w.db.hasPermanent(o.hash) {
			continue
		}
		name := paths[o.hash]
		if name == "" {
			name = o.hash.String()
		}
		return fmt.Errorf("upstream file %s is %s; the limit is %s", name, formatSize(o.size), formatSize(s.cfg.MaxFileSize))
	}
	return nil
}

// mirrorRefs makes the mirror's branches and tags those of the upstream,
// deletions first (so a/b can replace a). The caller holds the lock;
// each ref is compared with the value read at the start of the sync
// before it is written.
func mirrorRefs(repoPath string, local []ref, remote *RemoteRefs) ([]RefUpdate, error) {
	was := map[string]plumbing.Hash{}
	for _, r := range local {
		was[r.name] = r.hash
	}
	want := map[string]plumbing.Hash{}
	for _, r := range remote.Refs {
		want[r.Name] = r.Hash
	}
	var dels, sets []RefUpdate
	for _, r := range local {
		if _, ok := want[r.name]; !ok && (strings.HasPrefix(r.name, "refs/heads/") || strings.HasPrefix(r.name, "refs/tags/")) {
			dels = append(dels, RefUpdate{Name: r.name, Old: r.hash})
		}
	}
	for _, r := range remote.Refs {
		if old := was[r.Name]; old != r.Hash {
			sets = append(sets, RefUpdate{Name: r.Name, Old: old, New: r.Hash})
		}
	}
	var done []RefUpdate
	for _, u := range append(dels, sets...) {
		packed, err := readPackedRefs(repoPath)
		if err != nil {
			return done, err
		}
		cur, ok, err := readRef(repoPath, u.Name, packed)
		if err != nil {
			return done, err
		}
		if !ok {
			cur = plumbing.ZeroHash
		}
		if cur != u.Old {
			return done, fmt.Errorf("mirror ref %s moved during the sync (now %s): %w", u.Name, cur, ErrRefConflict)
		}
		if u.New.IsZero() {
			err = deleteRef(repoPath, u.Name)
		} else {
			err = writeRef(repoPath, u.Name, u.New)
		}
		if err != nil {
			return done, fmt.Errorf("update mirror ref %s: %w", u.Name, err)
		}
		done = append(done, u)
	}
	return done, nil
}

// transport carries protocol v2 to one upstream: smart HTTP (a GET for
// the advertisement, a POST per command) or SSH (one session whose
// stdin takes the commands one after another; v2 is stateless per
// command, so the same requests serve both).
type transport interface {
	// advertisement returns a reader over the capability advertisement,
	// cut off after maxAdvertisement bytes; done ends reading it.
	advertisement(ctx context.Context) (pr *pktReader, done func(), err error)
	// command sends a command request and returns its response and what
	// releases it. Over SSH the next response follows on the same
	// stream, so each must be read to its end.
	command(ctx context.Context, name string, body []byte) (*pktReader, io.Closer, error)
	// notV2 adds to the message for an upstream that did not answer in
	// protocol v2 what this transport knows about why.
	notV2() string
	// hostKey is the SSH server's host key, "" over HTTP.
	hostKey() string
	close() error
}

// fetchClient speaks git protocol v2 to one upstream.
type fetchClient struct {
	up   Upstream
	t    transport
	caps capabilities
}

// dialUpstream picks the transport for up's URL: SSH for ssh:// and
// scp-like (user@host:path) addresses, which connects now, smart HTTP
// otherwise.
func dialUpstream(ctx context.Context, up Upstream) (*fetchClient, error) {
	if addr, ok := parseSSHURL(up.URL); ok {
		t, err := dialSSH(ctx, up.SSH, addr)
		if err != nil {
			return nil, err
		}
		return &fetchClient{up: up, t: t}, nil
	}
	return &fetchClient{up: up, t: &httpTransport{up: up, base: strings.TrimRight(up.URL, "/")}}, nil
}

func (c *fetchClient) close() { _ = c.t.close() }

// httpTransport is smart HTTP: each request a separate call.
type httpTransport struct {
	up Upstream
	// base is the repository's URL the requests go to: up.URL, or where
	// the advertisement's request was redirected (a renamed repository),
	// as git's http.followRedirects=initial does.
	base string
}

// maxRedirects bounds the redirects of the advertisement's request.
const maxRedirects = 5

// redirectError is a 3xx answer to the advertisement's request.
type redirectError struct{ status, location string }

func (e *redirectError) Error() string { return "redirected (" + e.status + ") to " + e.location }

func (h *httpTransport) client() *http.Client {
	if h.up.Client != nil {
		return h.up.Client
	}
	return http.DefaultClient
}

func (h *httpTransport) request(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("upstream request: %w", err)
	}
	req.Header.Set("Git-Protocol", "version=2")
	req.Header.Set("User-Agent", fetchUserAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
		req.Header.Set("Accept", "application/x-git-upload-pack-result")
	}
	if h.up.Password != "" || h.up.Username != "" {
		user := h.up.Username
		if user == "" {
			user = "x-access-token"
		}
		req.SetBasicAuth(user, h.up.Password)
	}
	resp, err := h.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", redactURL(h.up.URL), err)
	}
	switch {
	case method == http.MethodGet && resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != "":
		resp.Body.Close()
		return nil, &redirectError{status: resp.Status, location: resp.Header.Get("Location")}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return nil, fmt.Errorf("%w (%s answered %s)", ErrUpstreamNotReadable, redactURL(h.up.URL), resp.Status)
	case resp.StatusCode != http.StatusOK:
		resp.Body.Close()
		return nil, fmt.Errorf("upstream %s answered %s", redactURL(h.up.URL), resp.Status)
	}
	return resp, nil
}

// advertisement is GET info/refs. A redirect to the same host and
// scheme (a renamed or moved repository) is followed, and the commands
// then go where it led; one to another host is refused, since the
// credentials are for this one.
func (h *httpTransport) advertisement(ctx context.Context) (*pktReader, func(), error) {
	const infoRefs = "/info/refs?service=" + serviceUploadPack
	var resp *http.Response
	for redirects := 0; ; redirects++ {
		var err error
		resp, err = h.request(ctx, http.MethodGet, infoRefs, nil)
		var re *redirectError
		if !errors.As(err, &re) {
			if err != nil {
				return nil, nil, err
			}
			break
		}
		if redirects == maxRedirects {
			return nil, nil, fmt.Errorf("upstream %s: more than %d redirects", redactURL(h.up.URL), maxRedirects)
		}
		base, err := h.redirected(re.location)
		if err != nil {
			return nil, nil, err
		}
		h.base = base
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-git-upload-pack-advertisement" {
		resp.Body.Close()
		return nil, nil, fmt.Errorf("%w: %s is not a smart HTTP git repository (Content-Type %q)", ErrUpstreamNotReadable, redactURL(h.up.URL), ct)
	}
	return newPktReader(bufio.NewReader(io.LimitReader(resp.Body, maxAdvertisement))), func() { resp.Body.Close() }, nil
}

// redirected is the repository URL a redirect of the advertisement's
// request names: on the same scheme and host, its path ending in
// /info/refs.
func (h *httpTransport) redirected(location string) (string, error) {
	from, err := url.Parse(h.base + "/info/refs")
	if err != nil {
		return "", fmt.Errorf("upstream URL: %w", err)
	}
	to, err := from.Parse(location)
	if err != nil {
		return "", fmt.Errorf("%w: %s redirects to an invalid location %q", ErrUpstreamProtocol, redactURL(h.up.URL), location)
	}
	if !strings.EqualFold(to.Scheme, from.Scheme) || !strings.EqualFold(to.Host, from.Host) || to.User != nil {
		return "", fmt.Errorf("%w: %s redirects to another host (%s); register the repository's new URL",
			ErrUpstreamProtocol, redactURL(h.up.URL), redactURL(to.Scheme+"://"+to.Host+to.Path))
	}
	repo, ok := strings.CutSuffix(to.Path, "/info/refs")
	if !ok || repo == "" {
		return "", fmt.Errorf("%w: %s redirects to %s, which is not a repository's info/refs", ErrUpstreamProtocol, redactURL(h.up.URL), to.Path)
	}
	to.Path, to.RawPath, to.RawQuery, to.Fragment = repo, "", "", ""
	return to.String(), nil
}

// command is a POST; a fetch must answer with the result content type.
func (h *httpTransport) command(ctx context.Context, name string, body []byte) (*pktReader, io.Closer, error) {
	resp, err := h.request(ctx, http.MethodPost, "/"+serviceUploadPack, body)
	if err != nil {
		return nil, nil, err
	}
	if ct := resp.Header.Get("Content-Type"); name == "fetch" && ct != "application/x-git-upload-pack-result" {
		resp.Body.Close()
		return nil, nil, fmt.Errorf("%w: fetch answered with Content-Type %q", ErrUpstreamProtocol, ct)
	}
	return newPktReader(bufio.NewReaderSize(resp.Body, 64<<10)), resp.Body, nil
}

func (h *httpTransport) notV2() string   { return "" }
func (h *httpTransport) hostKey() string { return "" }
func (h *httpTransport) close() error    { return nil }

// redactURL drops anything but scheme, host and path from a URL for
// messages.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if at := strings.LastIndex(u[i+3:], "@"); at >= 0 && !strings.Contains(u[i+3:i+3+at], "/") {
			u = u[:i+3] + u[i+3+at+1:]
		}
	}
	return u
}

// capabilities reads the v2 capability advertisement.
func (c *fetchClient) capabilities(ctx context.Context) error {
	pr, done, err := c.t.advertisement(ctx)
	if err != nil {
		return err
	}
	defer done()
	line, err := pr.next()
	if err == nil && strings.HasPrefix(string(line), "# service=") {
		// The v0 framing some servers keep in front of v2: the service
		// line and a flush.
		if _, err = pr.next(); errors.Is(err, errFlush) {
			line, err = pr.next()
		}
	}
	if err != nil || chomp(line) != "version 2" {
		return fmt.Errorf("%w: the upstream does not speak git protocol version 2%s", ErrUpstreamProtocol, c.t.notV2())
	}
	c.caps = capabilities{}
	for {
		line, err := pr.next()
		if errors.Is(err, errFlush) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: capability advertisement: %w", ErrUpstreamProtocol, err)
		}
		k, v, _ := strings.Cut(chomp(line), "=")
		c.caps[k] = v
	}
	if !c.caps.has("ls-refs") || !c.caps.has("fetch") {
		return fmt.Errorf("%w: the upstream offers no ls-refs or fetch command", ErrUpstreamProtocol)
	}
	if f, ok := c.caps["object-format"]; ok && f != "sha1" {
		return fmt.Errorf("%w: the upstream's object format is %s; only sha1 is supported", ErrUpstreamProtocol, f)
	}
	return nil
}

// command builds a v2 command request.
func (c *fetchClient) command(name string, args []string) []byte {
	var b bytes.Buffer
	writePktf(&b, "command=%s\n", name)
	writePktf(&b, "agent=%s\n", Agent)
	if c.caps.has("object-format") {
		writePkt(&b, "object-format=sha1\n")
	}
	writeDelim(&b)
	for _, a := range args {
		writePktf(&b, "%s\n", a)
	}
	writeFlush(&b)
	return b.Bytes()
}

// lsRefs lists HEAD, the branches and the tags.
func (c *fetchClient) lsRefs(ctx context.Context) (*RemoteRefs, error) {
	pr, body, err := c.t.command(ctx, "ls-refs", c.command("ls-refs",
		[]string{"symrefs", "peel", "ref-prefix HEAD", "ref-prefix refs/heads/", "ref-prefix refs/tags/"}))
	if err != nil {
		return nil, err
	}
	defer body.Close()
	out := &RemoteRefs{}
	seen := map[string]bool{}
	for {
		line, err := pr.next()
		if errors.Is(err, errFlush) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: ls-refs: %w", ErrUpstreamProtocol, err)
		}
		s := chomp(line)
		if msg, ok := strings.CutPrefix(s, "ERR "); ok {
			return nil, fmt.Errorf("upstream refused ls-refs: %s", msg)
		}
		fields := strings.Split(s, " ")
		if len(fields) < 2 {
			return nil, fmt.Errorf("%w: ls-refs line %q", ErrUpstreamProtocol, s)
		}
		h, okh := parseHash(fields[0])
		name := fields[1]
		r := RemoteRef{Name: name, Hash: h}
		for _, attr := range fields[2:] {
			switch {
			case strings.HasPrefix(attr, "symref-target:"):
				if name == "HEAD" {
					out.HEAD = strings.TrimPrefix(attr, "symref-target:")
				}
			case strings.HasPrefix(attr, "peeled:"):
				r.Peeled, _ = parseHash(strings.TrimPrefix(attr, "peeled:"))
			}
		}
		switch {
		case name == "HEAD":
			continue
		case !okh && fields[0] == "unborn":
			continue
		case !okh:
			return nil, fmt.Errorf("%w: ls-refs line %q", ErrUpstreamProtocol, s)
		}
		// A hostile upstream's odd names never reach the disk.
		if checkRefName(name) != nil || seen[name] ||
			!(strings.HasPrefix(name, "refs/heads/") || strings.HasPrefix(name, "refs/tags/")) {
			continue
		}
		seen[name] = true
		if len(out.Refs) == maxRemoteRefs {
			return nil, fmt.Errorf("the upstream has more than %d branches and tags", maxRemoteRefs)
		}
		out.Refs = append(out.Refs, r)
	}
	if out.HEAD != "" && (checkRefName(out.HEAD) != nil || !strings.HasPrefix(out.HEAD, "refs/heads/")) {
		out.HEAD = ""
	}
	sort.Slice(out.Refs, func(i, j int) bool { return out.Refs[i].Name < out.Refs[j].Name })
	return out, nil
}

// haveOffers offers the mirror's commits newest first, in rounds that
// double in size. A commit the upstream acknowledges is common, and so
// are its ancestors: they are not offered, and each later round repeats
// the acknowledged ones (the requests are stateless).
type haveOffers struct {
	w      *walker
	queue  haveQueue
	state  map[plumbing.Hash]*haveNode
	common []plumbing.Hash
}

type haveNode struct {
	hash   plumbing.Hash
	time   int64
	common bool
	popped bool
	seq    int
}

type haveQueue []*haveNode

func (q haveQueue) Len() int { return len(q) }
func (q haveQueue) Less(i, j int) bool {
	if q[i].time != q[j].time {
		return q[i].time > q[j].time
	}
	return q[i].seq < q[j].seq
}
func (q haveQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *haveQueue) Push(x any)   { *q = append(*q, x.(*haveNode)) }
func (q *haveQueue) Pop() any {
	old := *q
	n := old[len(old)-1]
	*q = old[:len(old)-1]
	return n
}

// add queues a commit (a tag is peeled; anything else is skipped).
func (n *haveOffers) add(h plumbing.Hash, common bool) {
	if nd, ok := n.state[h]; ok {
		if common {
			n.markCommon(nd)
		}
		return
	}
	target, typ, err := n.w.peel(h, nil)
	if err != nil || typ != objCommit {
		return
	}
	if target != h {
		n.add(target, common)
		return
	}
	c, err := n.w.commit(h)
	if err != nil {
		return
	}
	nd := &haveNode{hash: h, time: c.info.time, common: common, seq: len(n.state)}
	n.state[h] = nd
	heap.Push(&n.queue, nd)
}

// markCommon marks nd and the ancestors already known as common.
func (n *haveOffers) markCommon(nd *haveNode) {
	stack := []*haveNode{nd}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if x.common {
			continue
		}
		x.common = true
		if !x.popped {
			continue // its parents are not known yet; they inherit when it is popped
		}
		c, err := n.w.commit(x.hash)
		if err != nil {
			continue
		}
		for _, p := range c.info.parents {
			if pn, ok := n.state[p]; ok {
				stack = append(stack, pn)
			}
		}
	}
}

// next returns up to max commits to offer.
func (n *haveOffers) next(max int) []plumbing.Hash {
	var out []plumbing.Hash
	for len(out) < max && n.queue.Len() > 0 {
		nd := heap.Pop(&n.queue).(*haveNode)
		nd.popped = true
		if c, err := n.w.commit(nd.hash); err == nil {
			for _, p := range c.info.parents {
				n.add(p, nd.common)
			}
		}
		if !nd.common {
			out = append(out, nd.hash)
		}
	}
	return out
}

// exhausted reports whether nothing but common commits is left.
func (n *haveOffers) exhausted() bool {
	for _, nd := range n.queue {
		if !nd.common {
			return false
		}
	}
	return true
}

func (n *haveOffers) ack(h plumbing.Hash) {
	nd, ok := n.state[h]
	if !ok || nd.common {
		return
	}
	n.markCommon(nd)
	n.common = append(n.common, h)
}

// negotiate runs fetch rounds until the upstream is ready to send a pack
// (or there is nothing left to offer) and returns the pack stream.
func (c *fetchClient) negotiate(ctx context.Context, w *walker, wants []plumbing.Hash, local []ref) (*packResponse, int, error) {
	n := &haveOffers{w: w, state: map[plumbing.Hash]*haveNode{}}
	for _, r := range local {
		n.add(r.hash, false)
	}
	sent, inVain, batch := 0, 0, 16
	for {
		if err := ctx.Err(); err != nil {
			return nil, sent, err
		}
		haves := n.next(batch)
		sent += len(haves)
		inVain += len(haves)
		done := len(haves) == 0 || n.exhausted() || inVain >= maxNegotiationHaves
		args := []string{"thin-pack", "ofs-delta", "no-progress"}
		for _, h := range wants {
			args = append(args, "want "+h.String())
		}
		for _, h := range n.common {
			args = append(args, "have "+h.String())
		}
		for _, h := range haves {
			args = append(args, "have "+h.String())
		}
		if done {
			args = append(args, "done")
		}
		pr, body, err := c.t.command(ctx, "fetch", c.command("fetch", args))
		if err != nil {
			return nil, sent, err
		}
		acked, ready, first, err := readAcknowledgments(pr)
		if err != nil {
			body.Close()
			return nil, sent, err
		}
		for _, h := range acked {
			n.ack(h)
		}
		if len(acked) > 0 {
			inVain = 0
		}
		if ready || first != "" {
			pack, err := openPackSection(pr, body, first)
			if err != nil {
				body.Close()
				return nil, sent, err
			}
			return pack, sent, nil
		}
		body.Close()
		if done {
			return nil, sent, fmt.Errorf("%w: the upstream sent no pack after done", ErrUpstreamProtocol)
		}
		if batch < 1024 {
			batch *= 2
		}
	}
}

// readAcknowledgments reads the start of a fetch response. It returns
// the acknowledged commits and whether the upstream said ready (the
// pack's sections follow). A response without an acknowledgments
// section (to a request with done, or without haves) starts with the
// sections: first is then the header already read.
func readAcknowledgments(pr *pktReader) (acked []plumbing.Hash, ready bool, first string, err error) {
	line, err := pr.next()
	if err != nil {
		return nil, false, "", fmt.Errorf("%w: fetch response: %w", ErrUpstreamProtocol, err)
	}
	s := chomp(line)
	if msg, ok := strings.CutPrefix(s, "ERR "); ok {
		return nil, false, "", fmt.Errorf("upstream refused the fetch: %s", msg)
	}
	if s != "acknowledgments" {
		if !isSectionHeader(s) {
			return nil, false, "", fmt.Errorf("%w: unexpected fetch response line %q", ErrUpstreamProtocol, s)
		}
		return nil, false, s, nil
	}
	for {
		line, err := pr.next()
		switch {
		case errors.Is(err, errFlush):
			return acked, false, "", nil
		case errors.Is(err, errDelim):
			if !ready {
				return nil, false, "", fmt.Errorf("%w: acknowledgments ended with a delimiter but no ready", ErrUpstreamProtocol)
			}
			return acked, true, "", nil
		case err != nil:
			return nil, false, "", fmt.Errorf("%w: acknowledgments: %w", ErrUpstreamProtocol, err)
		}
		s := chomp(line)
		switch {
		case s == "NAK":
		case s == "ready":
			ready = true
		case strings.HasPrefix(s, "ACK "):
			h, ok := parseHash(strings.TrimPrefix(s, "ACK "))
			if !ok {
				return nil, false, "", fmt.Errorf("%w: acknowledgment %q", ErrUpstreamProtocol, s)
			}
			acked = append(acked, h)
		default:
			return nil, false, "", fmt.Errorf("%w: acknowledgment %q", ErrUpstreamProtocol, s)
		}
	}
}

func isSectionHeader(s string) bool {
	switch s {
	case "shallow-info", "wanted-refs", "packfile-uris", "packfile":
		return true
	}
	return false
}

// packResponse is the pack data of a fetch response: side-band 1 of the
// packfile section, with progress (band 2) dropped and an error (band
// 3) returned.
type packResponse struct {
	pr   *pktReader
	body io.Closer
	buf  []byte
	err  error
}

// openPackSection skips to the packfile section; first is a section
// header already read, if any.
func openPackSection(pr *pktReader, body io.Closer, first string) (*packResponse, error) {
	for {
		s := first
		first = ""
		if s == "" {
			line, err := pr.next()
			if err != nil {
				return nil, fmt.Errorf("%w: fetch response sections: %w", ErrUpstreamProtocol, err)
			}
			s = chomp(line)
		}
		switch {
		case s == "packfile":
			return &packResponse{pr: pr, body: body}, nil
		case strings.HasPrefix(s, "ERR "):
			return nil, fmt.Errorf("upstream refused the fetch: %s", strings.TrimPrefix(s, "ERR "))
		case isSectionHeader(s):
			// Sections this client never asks for (shallow-info,
			// wanted-refs) are read past to their end.
			for {
				_, err := pr.next()
				if errors.Is(err, errDelim) {
					break
				}
				if err != nil {
					return nil, fmt.Errorf("%w: section %s: %w", ErrUpstreamProtocol, s, err)
				}
			}
		default:
			return nil, fmt.Errorf("%w: unexpected section %q", ErrUpstreamProtocol, s)
		}
	}
}

func (p *packResponse) Read(b []byte) (int, error) {
	for len(p.buf) == 0 {
		if p.err != nil {
			return 0, p.err
		}
		line, err := p.pr.next()
		switch {
		case errors.Is(err, errFlush):
			p.err = io.EOF
			continue
		case err != nil:
			p.err = fmt.Errorf("%w: pack stream: %w", ErrUpstreamProtocol, err)
			continue
		case len(line) == 0:
			continue
		}
		switch line[0] {
		case bandData:
			p.buf = append(p.buf[:0], line[1:]...)
		case bandProgress:
		case bandError:
			p.err = fmt.Errorf("upstream error: %s", strings.TrimSpace(string(line[1:])))
		default:
			p.err = fmt.Errorf("%w: side-band %d", ErrUpstreamProtocol, line[0])
		}
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	return n, nil
}

// close releases the response.
func (p *packResponse) close() { p.body.Close() }

// finish reads what follows the pack to the end of the response: nothing
// but progress may come after the pack's trailer.
func (p *packResponse) finish() error {
	if len(p.buf) > 0 {
		return fmt.Errorf("%w: data after the pack", ErrUpstreamProtocol)
	}
	var one [1]byte
	n, err := p.Read(one[:])
	switch {
	case n > 0:
		return fmt.Errorf("%w: data after the pack", ErrUpstreamProtocol)
	case err == io.EOF:
		return nil
	}
	return err
}
