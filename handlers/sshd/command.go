package sshd

import (
	"errors"
	"fmt"
	"strings"
)

// gitCommand is an exec request git sends: git-upload-pack or
// git-receive-pack on owner/repo.
type gitCommand struct {
	service     string // git-upload-pack or git-receive-pack
	owner, repo string
	path        string // as the client wrote it, for messages
}

func (c gitCommand) push() bool { return c.service == "git-receive-pack" }

// errNotGit is a command that is not one of the two git services;
// errBadPath a git command whose path names no repository.
var (
	errNotGit  = errors.New("not a git command")
	errBadPath = errors.New("not a repository path")
)

// parseCommand reads the command of an exec request. git sends
// `git-upload-pack '/owner/repo.git'` (or 'owner/repo.git' for scp-style
// URLs), quoting the path as its sq_quote does; some clients write
// `git upload-pack`. The leading "/" and the ".git" suffix are optional.
func parseCommand(line string) (gitCommand, error) {
	words, err := shellWords(line)
	if err != nil {
		return gitCommand{}, fmt.Errorf("%w: %w", errNotGit, err)
	}
	if len(words) == 3 && words[0] == "git" {
		words = []string{"git-" + words[1], words[2]}
	}
	if len(words) != 2 || words[0] != "git-upload-pack" && words[0] != "git-receive-pack" {
		return gitCommand{}, errNotGit
	}
	c := gitCommand{service: words[0], path: words[1]}
	p := strings.TrimSuffix(strings.TrimPrefix(words[1], "/"), "/")
	owner, repo, ok := strings.Cut(p, "/")
	repo = strings.TrimSuffix(repo, ".git")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return c, fmt.Errorf("%q is %w: use <owner>/<repository>.git", words[1], errBadPath)
	}
	c.owner, c.repo = owner, repo
	return c, nil
}

// shellWords splits a command line as a POSIX shell does for plain
// words and quoting (no expansion): single quotes keep everything, a
// backslash outside them keeps the next character, double quotes keep
// everything but \" \\ \$ and \`.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("unterminated double quote")
			}
			inWord = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("trailing backslash")
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
