package gitserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Signed pushes (git push --signed): the server advertises
// push-cert=<nonce>, and the client sends, in place of its commands, a
// certificate naming the pusher, the repository, the nonce and the
// commands, with a detached signature. The certificate is kept for the
// app to record; the signature is not verified here (that needs the
// pusher's registered keys, which gitserver does not know).

// Push describes the push a RefUpdate belongs to. Every update of one
// push shares one Push.
type Push struct {
	// Cert is the push certificate of a signed push; nil otherwise.
	Cert *PushCert
	// HEAD is set to the branch (refs/heads/...) this push pointed HEAD
	// at: the push created the repository's first branches and HEAD
	// named a branch that does not exist. The app makes it the default
	// branch. Empty otherwise; only known once the refs are written, so
	// Check sees it empty.
	HEAD string
}

// PushCert is a push certificate as git push --signed sends it.
type PushCert struct {
	Text        string // the whole certificate as received, signature included
	Version     string // "0.1"
	Pusher      string // the signer's identity and the time of signing
	Pushee      string // the URL the client pushed to (credentials removed by git)
	Nonce       string
	NonceStatus string // OK, SLOP, BAD or MISSING, as git's GIT_PUSH_CERT_NONCE_STATUS
	Options     []string
	Signature   string // the detached signature block (not verified)
}

// certNonceSlop is how old a nonce may be and still be OK (newer than
// this is OK, older but genuine is SLOP): an HTTP push asks for the
// advertisement and posts a moment later.
const certNonceSlop = 5 * time.Minute

// certNonce is the nonce advertised for a repository at a time: stateless,
// so any process holding the same seed can check it, as C git's
// HMAC-based nonce is.
func (s *Server) certNonce(repoPath string, stamp int64) string {
	mac := hmac.New(sha256.New, s.certSeed)
	fmt.Fprintf(mac, "%s:%d", lockKey(repoPath), stamp)
	return fmt.Sprintf("%d-%s", stamp, hex.EncodeToString(mac.Sum(nil))[:40])
}

// nonceStatus judges the nonce a certificate carries.
func (s *Server) nonceStatus(repoPath, nonce string, now time.Time) string {
	if nonce == "" {
		return "MISSING"
	}
	stamp, _, ok := strings.Cut(nonce, "-")
	t, err := strconv.ParseInt(stamp, 10, 64)
	if !ok || err != nil || !hmac.Equal([]byte(s.certNonce(repoPath, t)), []byte(nonce)) {
		return "BAD"
	}
	if age := now.Unix() - t; age < 0 || age > int64(certNonceSlop/time.Second) {
		return "SLOP"
	}
	return "OK"
}

// parsePushCert reads a certificate's headers, commands and signature.
func parsePushCert(text string) (*PushCert, []*command, error) {
	cert := &PushCert{Text: text}
	head, body, ok := strings.Cut(text, "\n\n")
	if !ok {
		return nil, nil, errors.New("push certificate without commands")
	}
	for _, line := range strings.Split(head, "\n") {
		key, value, _ := strings.Cut(line, " ")
		switch key {
		case "certificate":
			cert.Version = strings.TrimPrefix(value, "version ")
		case "pusher":
			cert.Pusher = value
		case "pushee":
			cert.Pushee = value
		case "nonce":
			cert.Nonce = value
		case "push-option":
			cert.Options = append(cert.Options, value)
		}
	}
	if cert.Version != "0.1" {
		return nil, nil, fmt.Errorf("push certificate version %q not supported", cert.Version)
	}
	var cmds []*command
	for body != "" {
		if strings.HasPrefix(body, "-----BEGIN ") {
			cert.Signature = body
			break
		}
		line, rest, _ := strings.Cut(body, "\n")
		body = rest
		parts := strings.SplitN(line, " ", 3)
		if len(parts) != 3 {
			return nil, nil, fmt.Errorf("push certificate: bad command %q", line)
		}
		old, ok1 := parseHash(parts[0])
		new, ok2 := parseHash(parts[1])
		if !ok1 || !ok2 {
			return nil, nil, fmt.Errorf("push certificate: bad command %q", line)
		}
		cmds = append(cmds, &command{RefUpdate: RefUpdate{Name: parts[2], Old: old, New: new}})
	}
	if cert.Signature == "" {
		return nil, nil, errors.New("push certificate without signature")
	}
	return cert, cmds, nil
}

// firstBranchHEAD picks the branch HEAD should name after the first push
// of branches, when the one it names was not pushed: main, then master,
// else the first branch of the push. created is in push order.
func firstBranchHEAD(created []string) string {
	for _, want := range []string{"refs/heads/main", "refs/heads/master"} {
		for _, c := range created {
			if c == want {
				return c
			}
		}
	}
	if len(created) > 0 {
		return created[0]
	}
	return ""
}
