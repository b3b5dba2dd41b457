package handlers

import (
	"context"
	"net/http"

	"tapioca/gitserver"
	"tapioca/handlers/core/mirrors"
)

// upstreamFetcher is the mirror engine's way to upstreams: gitserver's
// fetch client over the SSRF-guarded HTTP client, so every request, and
// the address it dials, follows the network policy.
type upstreamFetcher struct {
	git    *gitserver.Server
	client *http.Client
}

func (f upstreamFetcher) upstream(url string, c mirrors.Credentials) gitserver.Upstream {
	return gitserver.Upstream{URL: url, Client: f.client, Username: c.Username, Password: c.Password}
}

// Fetch syncs the mirror at path from url.
func (f upstreamFetcher) Fetch(ctx context.Context, path, url string, c mirrors.Credentials) (*gitserver.FetchResult, error) {
	return f.git.FetchMirror(ctx, path, f.upstream(url, c))
}

// List reads the upstream's HEAD, branches and tags.
func (f upstreamFetcher) List(ctx context.Context, url string, c mirrors.Credentials) (*gitserver.RemoteRefs, error) {
	return gitserver.ListRemote(ctx, f.upstream(url, c))
}
