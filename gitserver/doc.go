// Package gitserver speaks git: the smart-HTTP transport (upload-pack and
// receive-pack written on go-git's plumbing), ref updates under a
// per-repository lock, and repository creation. It knows nothing of HTTP
// authentication or JSON; handlers/ decides who may call it.
package gitserver
