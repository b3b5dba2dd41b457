package handlers

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"golang.org/x/crypto/ssh"

	"tapioca/gitserver"
	"tapioca/handlers/core/mirrors"
)

// upstreamFetcher is the mirror engine's way to upstreams: gitserver's
// fetch client over the SSRF-guarded HTTP client, or over SSH through
// the guarded dialer, so every request, and the address it dials,
// follows the network policy.
type upstreamFetcher struct {
	git    *gitserver.Server
	client *http.Client
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (f upstreamFetcher) upstream(url string, c mirrors.Credentials) (gitserver.Upstream, error) {
	up := gitserver.Upstream{URL: url, Client: f.client, Username: c.Username, Password: c.Password}
	if gitserver.IsSSHURL(url) {
		up.SSH = &gitserver.SSHAuth{Dial: f.dial, HostKey: c.HostKey}
		if c.SSHKey != "" {
			key, err := ssh.ParsePrivateKey([]byte(c.SSHKey))
			if err != nil {
				return up, fmt.Errorf("the SSH key for %s: %w", url, err)
			}
			up.SSH.Key = key
		}
	}
	return up, nil
}

// Fetch syncs the mirror at path from url.
func (f upstreamFetcher) Fetch(ctx context.Context, path, url string, c mirrors.Credentials) (*gitserver.FetchResult, error) {
	up, err := f.upstream(url, c)
	if err != nil {
		return nil, err
	}
	return f.git.FetchMirror(ctx, path, up)
}

// List reads the upstream's HEAD, branches and tags.
func (f upstreamFetcher) List(ctx context.Context, url string, c mirrors.Credentials) (*gitserver.RemoteRefs, error) {
	up, err := f.upstream(url, c)
	if err != nil {
		return nil, err
	}
	return gitserver.ListRemote(ctx, up)
}
