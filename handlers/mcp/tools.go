package mcp

import (
	"bytes"
	"context"
	"errors"

	"tapioca/handlers/core"
	"tapioca/handlers/core/code"
	"tapioca/handlers/core/issues"
	"tapioca/handlers/core/payload"
	"tapioca/handlers/core/pulls"
	"tapioca/handlers/core/repos"
	"tapioca/handlers/core/statuses"
	"tapioca/handlers/httpx"
	"tapioca/store"
)

// The arguments every tool about a repository, issue or pull request
// takes; the rest of each tool's input is the core type the REST
// endpoint decodes.

type repoArgs struct {
	Owner string `json:"owner" api:"required" doc:"The repository's owner (a user or organization)"`
	Repo  string `json:"repo" api:"required" doc:"The repository's name"`
}

type numberArgs struct {
	repoArgs
	Number int64 `json:"number" api:"required" doc:"The issue or pull request number"`
}

func (n numberArgs) ref(pull bool) issues.Ref {
	return issues.Ref{Owner: n.Owner, Repo: n.Repo, Number: n.Number, Pull: pull}
}

type pageArgs struct {
	Page    int `json:"page" doc:"Page number (default 1)"`
	PerPage int `json:"per_page" doc:"Items per page (default 30, at most 100)"`
}

// page applies the REST API's paging rules.
func (p pageArgs) page() (core.Page, error) {
	v := core.Validation{}
	pg := httpx.Page{Page: 1, PerPage: 30}
	switch {
	case p.Page < 0:
		v.Add("page", "must be a positive integer")
	case p.Page > 0:
		pg.Page = p.Page
	}
	switch {
	case p.PerPage < 0:
		v.Add("per_page", "must be a positive integer")
	case p.PerPage > 0:
		pg.PerPage = min(p.PerPage, 100)
	}
	return pg.Core(), v.Err()
}

type formatArgs struct {
	Format string `json:"format" enum:"json,diff,patch" doc:"json (default): the object with per-file patches; diff: the unified diff, byte for byte as git diff; patch: the patch series, as git format-patch"`
}

func (f formatArgs) diff() (code.Format, bool, error) {
	switch f.Format {
	case "", "json":
		return 0, false, nil
	case "diff":
		return code.Diff, true, nil
	case "patch":
		return code.Patch, true, nil
	}
	return 0, false, core.Invalid("format", `is not included in the list ("json", "diff", "patch")`)
}

// maxDiffText bounds a diff returned as a tool's text.
const maxDiffText = 8 << 20

var errDiffTooLarge = core.TooLarge("The diff is larger than 8 MiB: read it file by file (the files tools) or over the REST API")

type cappedBuffer struct{ bytes.Buffer }

func (c *cappedBuffer) Write(b []byte) (int, error) {
	if c.Len()+len(b) > maxDiffText {
		return 0, errDiffTooLarge
	}
	return c.Buffer.Write(b)
}

func writeText(ctx context.Context, dw *code.DiffWriter, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	var buf cappedBuffer
	if err := dw.Write(ctx, &buf); err != nil {
		if errors.Is(err, core.ErrTooLarge) {
			return nil, errDiffTooLarge
		}
		return nil, err
	}
	return text(buf.String()), nil
}

type branchOut struct {
	Name      string `json:"name"`
	SHA       string `json:"sha"`
	Protected bool   `json:"protected"`
}

func (d *Door) site() payload.Site { return d.env.Site() }

func (d *Door) addTools() {
	const repo = core.AreaRepo

	// Repositories.
	type listRepos struct {
		Owner string `json:"owner" doc:"A user or organization whose repositories to list (default: yours)"`
		repos.ListQuery
		pageArgs
	}
	tool(d, "list_repositories", "List repositories: yours, or a user's or organization's that you can see.", false, repo,
		func(ctx context.Context, a core.Actor, in listRepos) (any, error) {
			pg, err := in.page()
			if err != nil {
				return nil, err
			}
			q := in.ListQuery
			q.Page = pg
			var list []*store.Repo
			switch {
			case in.Owner == "":
				list, _, err = d.Repos.Mine(ctx, a, q)
			default:
				owner, lerr := d.env.Store.UserByName(ctx, in.Owner)
				switch {
				case lerr != nil:
					err = lerr
				case owner.IsOrg():
					list, _, err = d.Repos.OfOrg(ctx, a, in.Owner, q)
				default:
					list, _, err = d.Repos.OfUser(ctx, in.Owner, q)
				}
			}
			if err != nil {
				return nil, err
			}
			return d.site().Repos(list), nil
		})
	tool(d, "get_repository", "Get a repository: its default branch, visibility, counts and clone URLs.", false, repo,
		func(ctx context.Context, a core.Actor, in repoArgs) (any, error) {
			r, err := d.Repos.Get(ctx, a, in.Owner, in.Repo)
			if err != nil {
				return nil, err
			}
			return d.site().RepoOf(r), nil
		})

	// Code.
	type contentsArgs struct {
		repoArgs
		Path string `json:"path" doc:"A file or directory path (empty: the top directory)"`
		code.RefQuery
	}
	tool(d, "get_contents", "Read a file (its content base64-encoded, up to 1 MB) or list a directory, at a branch, tag or commit.", false, repo,
		func(ctx context.Context, a core.Actor, in contentsArgs) (any, error) {
			c, err := d.Code.Contents(ctx, a, in.Owner, in.Repo, in.Path, in.RefQuery)
			if err != nil {
				return nil, err
			}
			if c.Type == "dir" {
				return d.site().EntriesOf(c.Repo, c.Content), nil
			}
			return d.site().ContentOf(c.Repo, c.Content), nil
		})
	type treeArgs struct {
		repoArgs
		Ref string `json:"ref" doc:"A branch, tag, commit or tree SHA (default: the default branch)"`
		code.TreeQuery
	}
	tool(d, "get_tree", "List the files of a tree, recursively if asked (at most 10,000 entries; truncated says so).", false, repo,
		func(ctx context.Context, a core.Actor, in treeArgs) (any, error) {
			ref := in.Ref
			if ref == "" {
				r, err := d.Repos.Get(ctx, a, in.Owner, in.Repo)
				if err != nil {
					return nil, err
				}
				ref = r.DefaultBranch
			}
			t, err := d.Code.Tree(ctx, a, in.Owner, in.Repo, ref, in.TreeQuery)
			if err != nil {
				return nil, err
			}
			return payload.TreeOf(t), nil
		})
	type grepArgs struct {
		repoArgs
		code.GrepQuery
	}
	tool(d, "grep", "Search the files at a revision with a regular expression (RE2): file, line number and line of each match.", false, repo,
		func(ctx context.Context, a core.Actor, in grepArgs) (any, error) {
			res, err := d.Code.Grep(ctx, a, in.Owner, in.Repo, in.GrepQuery)
			if err != nil {
				return nil, err
			}
			return payload.GrepOf(res), nil
		})
	type logArgs struct {
		repoArgs
		code.LogQuery
		pageArgs
	}
	tool(d, "list_commits", "List commits in git log order, filtered by path, author and dates.", false, repo,
		func(ctx context.Context, a core.Actor, in logArgs) (any, error) {
			pg, err := in.page()
			if err != nil {
				return nil, err
			}
			lp, err := d.Code.Log(ctx, a, in.Owner, in.Repo, in.LogQuery, pg)
			if err != nil {
				return nil, err
			}
			return map[string]any{"commits": d.site().Commits(lp.Repo, lp.Commits), "has_more": lp.HasMore}, nil
		})
	type commitArgs struct {
		repoArgs
		Ref string `json:"ref" api:"required" doc:"A commit SHA, branch or tag"`
		formatArgs
	}
	tool(d, "get_commit", "Get a commit with its changed files and patches, or its diff or patch as text.", false, repo,
		func(ctx context.Context, a core.Actor, in commitArgs) (any, error) {
			f, asText, err := in.diff()
			if err != nil {
				return nil, err
			}
			if asText {
				dw, err := d.Code.CommitDiff(ctx, a, in.Owner, in.Repo, in.Ref, f)
				return writeText(ctx, dw, err)
			}
			c, err := d.Code.Commit(ctx, a, in.Owner, in.Repo, in.Ref)
			if err != nil {
				return nil, err
			}
			r, err := d.Repos.Get(ctx, a, in.Owner, in.Repo)
			if err != nil {
				return nil, err
			}
			return d.site().CommitDetailOf(r, c), nil
		})
	type compareArgs struct {
		repoArgs
		Base string `json:"base" api:"required" doc:"The base revision"`
		Head string `json:"head" api:"required" doc:"The head revision"`
		formatArgs
	}
	tool(d, "compare", "Compare base...head: merge base, ahead/behind, commits and changed files; or the diff (git diff base...head) or patch series as text.", false, repo,
		func(ctx context.Context, a core.Actor, in compareArgs) (any, error) {
			f, asText, err := in.diff()
			if err != nil {
				return nil, err
			}
			if asText {
				dw, err := d.Code.CompareDiff(ctx, a, in.Owner, in.Repo, in.Base, in.Head, f)
				return writeText(ctx, dw, err)
			}
			c, err := d.Code.Compare(ctx, a, in.Owner, in.Repo, in.Base, in.Head)
			if err != nil {
				return nil, err
			}
			r, err := d.Repos.Get(ctx, a, in.Owner, in.Repo)
			if err != nil {
				return nil, err
			}
			return d.site().ComparisonOf(r, c), nil
		})
	type commitFilesArgs struct {
		repoArgs
		code.CommitInput
	}
	tool(d, "commit_files", "Commit several file changes (create, update, delete, move) to a branch in one commit, as a push would (events, pull requests, branch protection). expected_head_sha makes it a compare-and-swap.", true, repo,
		func(ctx context.Context, a core.Actor, in commitFilesArgs) (any, error) {
			w, err := d.Code.CommitFiles(ctx, a, in.Owner, in.Repo, in.CommitInput)
			if err != nil {
				return nil, err
			}
			return payload.CommitWrite{Branch: w.Branch, Created: w.Created, Commit: d.site().CommitOf(w.Repo, w.Commit),
				Files: payload.WrittenFiles(w.Files)}, nil
		})

	// Branches.
	type branchesArgs struct {
		repoArgs
		pageArgs
	}
	tool(d, "list_branches", "List branches with their tips.", false, repo,
		func(ctx context.Context, a core.Actor, in branchesArgs) (any, error) {
			pg, err := in.page()
			if err != nil {
				return nil, err
			}
			bs, _, err := d.Repos.Branches(ctx, a, in.Owner, in.Repo, pg)
			if err != nil {
				return nil, err
			}
			out := make([]branchOut, 0, len(bs))
			for _, b := range bs {
				out = append(out, branchOut{Name: b.Name, SHA: b.SHA, Protected: b.Protected})
			}
			return out, nil
		})
	type createBranchArgs struct {
		repoArgs
		repos.BranchCreation
	}
	tool(d, "create_branch", "Create a branch at a commit.", true, repo,
		func(ctx context.Context, a core.Actor, in createBranchArgs) (any, error) {
			b, err := d.Repos.CreateBranch(ctx, a, in.Owner, in.Repo, in.Name.V, in.SHA.V)
			if err != nil {
				return nil, err
			}
			return branchOut{Name: b.Name, SHA: b.SHA, Protected: b.Protected}, nil
		})

	// Issues.
	type searchIssuesArgs struct {
		repoArgs
		issues.ListQuery
		pageArgs
	}
	tool(d, "search_issues", "List issues, searching titles, bodies and comments with q and filtering by state, labels, assignee, creator and date.", false, repo,
		func(ctx context.Context, a core.Actor, in searchIssuesArgs) (any, error) {
			pg, err := in.pageArgs.page()
			if err != nil {
				return nil, err
			}
			q := in.ListQuery
			q.Page = pg
			list, _, err := d.Issues.List(ctx, a, in.Owner, in.Repo, q)
			if err != nil {
				return nil, err
			}
			out := make([]payload.Issue, 0, len(list))
			for _, i := range list {
				out = append(out, payload.IssueOf(i))
			}
			return out, nil
		})
	tool(d, "get_issue", "Get an issue.", false, repo,
		func(ctx context.Context, a core.Actor, in numberArgs) (any, error) {
			i, err := d.Issues.Get(ctx, a, in.ref(false))
			if err != nil {
				return nil, err
			}
			return payload.IssueOf(i), nil
		})
	type createIssueArgs struct {
		repoArgs
		issues.Creation
	}
	tool(d, "create_issue", "Open an issue.", true, repo,
		func(ctx context.Context, a core.Actor, in createIssueArgs) (any, error) {
			i, err := d.Issues.Create(ctx, a, in.Owner, in.Repo, in.Creation)
			if err != nil {
				return nil, err
			}
			return payload.IssueOf(i), nil
		})
	type updateIssueArgs struct {
		numberArgs
		issues.Update
	}
	tool(d, "update_issue", "Edit an issue: title, body, labels, assignees, or state (close or reopen it).", true, repo,
		func(ctx context.Context, a core.Actor, in updateIssueArgs) (any, error) {
			i, err := d.Issues.Update(ctx, a, in.ref(false), in.Update)
			if err != nil {
				return nil, err
			}
			return payload.IssueOf(i), nil
		})
	type commentArgs struct {
		numberArgs
		issues.CommentInput
	}
	for _, pull := range []bool{false, true} {
		name, what := "comment_on_issue", "an issue"
		if pull {
			name, what = "comment_on_pull_request", "a pull request's conversation"
		}
		tool(d, name, "Post a comment on "+what+".", true, repo,
			func(ctx context.Context, a core.Actor, in commentArgs) (any, error) {
				c, err := d.Issues.Comment(ctx, a, in.ref(pull), in.Body.V)
				if err != nil {
					return nil, err
				}
				return payload.CommentOf(c), nil
			})
	}
	type labelsArgs struct {
		numberArgs
		issues.LabelsInput
	}
	tool(d, "add_issue_labels", "Apply labels to an issue (write access).", true, repo,
		func(ctx context.Context, a core.Actor, in labelsArgs) (any, error) {
			i, err := d.Issues.AddLabels(ctx, a, in.ref(false), in.Labels)
			if err != nil {
				return nil, err
			}
			return payload.IssueOf(i), nil
		})

	// Pull requests.
	type listPullsArgs struct {
		repoArgs
		pulls.ListQuery
		pageArgs
	}
	tool(d, "list_pull_requests", "List pull requests, searching with q and filtering by state, head, base, labels, assignee, creator and date.", false, repo,
		func(ctx context.Context, a core.Actor, in listPullsArgs) (any, error) {
			pg, err := in.pageArgs.page()
			if err != nil {
				return nil, err
			}
			q := in.ListQuery
			q.ListQuery.Page = pg
			list, _, err := d.Pulls.List(ctx, a, in.Owner, in.Repo, q)
			if err != nil {
				return nil, err
			}
			out := make([]payload.Pull, 0, len(list))
			for _, p := range list {
				out = append(out, payload.PullOf(p))
			}
			return out, nil
		})
	type createPullArgs struct {
		repoArgs
		pulls.Creation
	}
	tool(d, "create_pull_request", "Open a pull request from head into base.", true, repo,
		func(ctx context.Context, a core.Actor, in createPullArgs) (any, error) {
			p, err := d.Pulls.Create(ctx, a, in.Owner, in.Repo, in.Creation)
			if err != nil {
				return nil, err
			}
			return payload.PullOf(p), nil
		})
	type getPullArgs struct {
		numberArgs
		formatArgs
	}
	tool(d, "get_pull_request", "Get a pull request with mergeable_state and what blocks its merge, or its diff or patch series as text.", false, repo,
		func(ctx context.Context, a core.Actor, in getPullArgs) (any, error) {
			f, asText, err := in.diff()
			if err != nil {
				return nil, err
			}
			if asText {
				dw, err := d.Code.PullDiff(ctx, a, in.ref(true), f)
				return writeText(ctx, dw, err)
			}
			p, gate, err := d.Pulls.Gate(ctx, a, in.ref(true))
			if err != nil {
				return nil, err
			}
			out := payload.PullOf(p)
			out.MergeableState, out.MergeBlockers = gate.State, gate.Blockers
			return out, nil
		})
	type pullPageArgs struct {
		numberArgs
		pageArgs
	}
	tool(d, "list_pull_request_files", "List the files a pull request changes, with their patches.", false, repo,
		func(ctx context.Context, a core.Actor, in pullPageArgs) (any, error) {
			pg, err := in.page()
			if err != nil {
				return nil, err
			}
			fs, _, err := d.Code.PullFiles(ctx, a, in.ref(true), pg)
			if err != nil {
				return nil, err
			}
			return payload.Files(fs), nil
		})
	tool(d, "list_pull_request_commits", "List a pull request's commits, oldest first.", false, repo,
		func(ctx context.Context, a core.Actor, in pullPageArgs) (any, error) {
			pg, err := in.page()
			if err != nil {
				return nil, err
			}
			cs, _, err := d.Code.PullCommits(ctx, a, in.ref(true), pg)
			if err != nil {
				return nil, err
			}
			r, err := d.Repos.Get(ctx, a, in.Owner, in.Repo)
			if err != nil {
				return nil, err
			}
			return d.site().Commits(r, cs), nil
		})
	type reviewArgs struct {
		numberArgs
		pulls.ReviewInput
	}
	tool(d, "review_pull_request", "Review a pull request: approve, request changes or comment, with inline comments on lines of changed files.", true, repo,
		func(ctx context.Context, a core.Actor, in reviewArgs) (any, error) {
			rv, err := d.Pulls.Review(ctx, a, in.ref(true), in.ReviewInput)
			if err != nil {
				return nil, err
			}
			return payload.ReviewOf(rv), nil
		})
	type mergeArgs struct {
		numberArgs
		pulls.MergeInput
	}
	tool(d, "merge_pull_request", "Merge a pull request (merge, squash or rebase); refused while it is blocked or conflicts.", true, repo,
		func(ctx context.Context, a core.Actor, in mergeArgs) (any, error) {
			sha, err := d.Pulls.Merge(ctx, a, in.ref(true), in.MergeInput)
			if err != nil {
				return nil, err
			}
			return map[string]any{"sha": sha.String(), "merged": true, "message": "Pull request successfully merged."}, nil
		})

	// Commit statuses.
	type statusArgs struct {
		repoArgs
		SHA string `json:"sha" api:"required" doc:"The commit (a SHA, branch or tag)"`
		statuses.Input
	}
	tool(d, "create_status", "Post a commit status (pending, success, failure, error) for a check's context.", true, repo,
		func(ctx context.Context, a core.Actor, in statusArgs) (any, error) {
			st, err := d.Statuses.Create(ctx, a, in.Owner, in.Repo, in.SHA, in.Input)
			if err != nil {
				return nil, err
			}
			return payload.StatusOf(st), nil
		})
	type combinedArgs struct {
		repoArgs
		Ref string `json:"ref" api:"required" doc:"A commit SHA, branch or tag"`
	}
	tool(d, "get_combined_status", "The combined status of a commit and the current status of each context.", false, repo,
		func(ctx context.Context, a core.Actor, in combinedArgs) (any, error) {
			c, err := d.Statuses.Combined(ctx, a, in.Owner, in.Repo, in.Ref)
			if err != nil {
				return nil, err
			}
			return payload.CombinedStatus{State: c.State, SHA: c.SHA, TotalCount: len(c.Statuses), Statuses: payload.Statuses(c.Statuses)}, nil
		})
}
