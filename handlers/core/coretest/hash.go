package coretest

import "github.com/go-git/go-git/v5/plumbing"

func gitserverHash(s string) plumbing.Hash { return plumbing.NewHash(s) }
