// Package mcp is the Model Context Protocol door (/mcp): the agent's day
// (repositories, files, search, history, diffs, commits, branches,
// issues, pull requests, reviews, merges, statuses) as MCP tools over the
// Streamable HTTP transport of the official Go SDK. It authenticates with
// the API's bearer tokens, checks their scopes as the REST API does,
// calls the same core operation as the matching REST endpoint with input
// decoded from the same Go types (which its tools' input schemas are made
// from), and reports the core's errors as tool errors with the same
// messages. It decides nothing itself.
package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"tapioca/handlers/apischema"
	"tapioca/handlers/core"
	"tapioca/handlers/core/code"
	"tapioca/handlers/core/issues"
	"tapioca/handlers/core/pulls"
	"tapioca/handlers/core/repos"
	"tapioca/handlers/core/statuses"
	"tapioca/handlers/httpx"
)

// Path is where the door listens.
const Path = "/mcp"

// Services are the core services the tools call.
type Services struct {
	Repos    *repos.Service
	Issues   *issues.Service
	Pulls    *pulls.Service
	Code     *code.Service
	Statuses *statuses.Service
}

// Door is the MCP endpoint.
type Door struct {
	Services
	env    *core.Env
	log    *slog.Logger
	gate   *httpx.Gate
	server *sdk.Server
	tools  []Tool
}

// Tool is one tool as registered, for listings and tests.
type Tool struct {
	Name  string
	Write bool
	Area  core.Area
	Input reflect.Type
}

// maxBody bounds a request: a commit's files travel in it.
const maxBody = 96 << 20

// New returns the door. gate is the token dialects' shared one, so a
// caller has one hourly budget whichever door they use.
func New(env *core.Env, s Services, gate *httpx.Gate) *Door {
	d := &Door{Services: s, env: env, log: env.Log, gate: gate}
	d.server = sdk.NewServer(&sdk.Implementation{Name: "tapioca", Title: "Tapioca forge", Version: env.Cfg.Version},
		&sdk.ServerOptions{
			Instructions: "Tools for a Tapioca git forge: read and search code, history and diffs, commit files, " +
				"and work with branches, issues, pull requests, reviews, merges and commit statuses. " +
				"Repositories are named by owner and repo. Errors come back as tool errors with the reason.",
			Capabilities: &sdk.ServerCapabilities{},
		})
	d.addTools()
	return d
}

// Tools lists the registered tools.
func (d *Door) Tools() []Tool { return d.tools }

// Register mounts the door on mux.
func (d *Door) Register(mux *http.ServeMux) {
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return d.server }, &sdk.StreamableHTTPOptions{
		// Each POST is a whole exchange: no session state to keep or
		// lose between requests.
		Stateless:    true,
		JSONResponse: true,
		Logger:       d.log,
		// Rebinding protection guards cookie- or address-trusting local
		// servers; every request here carries a bearer token a rebinding
		// page cannot have, and a reverse proxy on the same host
		// legitimately sends the public Host.
		DisableLocalhostProtection: true,
		MaxRequestBodyBytes:        maxBody,
	})
	bearer := auth.RequireBearerToken(d.verify, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})
	mux.Handle(Path, d.authenticate(bearer(h)))
}

type actorKey struct{}

// authenticate admits requests with a valid bearer token within the
// rate limit (the shared gate), answering refusals in the API's JSON
// shape; the SDK's bearer check then finds the actor through verify.
func (d *Door) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "bearer ") {
			d.refuse(w, r, core.ErrNoIdentity)
			return
		}
		a, err := d.gate.Check(w, r)
		if err == nil && a.User == nil {
			err = core.ErrNoIdentity
		}
		if err != nil {
			d.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, a)))
	})
}

func (d *Door) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if p, _ := httpx.ProblemOf(err); p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="Tapioca"`)
	}
	httpx.WriteError(w, r, d.log, err)
}

// verify hands the actor authenticate found to the SDK, which passes it
// to every tool call of the request (and ties a session to its user).
func (d *Door) verify(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
	a, ok := ctx.Value(actorKey{}).(core.Actor)
	if !ok || a.User == nil {
		return nil, auth.ErrInvalidToken
	}
	info := &auth.TokenInfo{UserID: strconv.FormatInt(a.User.ID, 10), Extra: map[string]any{"actor": a}}
	if a.Token != nil {
		info.Scopes = a.Token.Scopes
	}
	return info, nil
}

// tool registers a tool whose input is In: its schema is In's (the same
// type the REST endpoint decodes), arguments are decoded strictly (an
// unknown one is refused by name), the token's scopes are checked, and
// run's error becomes a tool error with the core's message.
func tool[In any](d *Door, name, desc string, write bool, area core.Area, run func(ctx context.Context, a core.Actor, in In) (any, error)) {
	t := reflect.TypeFor[In]()
	schema := apischema.New(false).For(t, apischema.Input)
	d.tools = append(d.tools, Tool{Name: name, Write: write, Area: area, Input: t})
	annotations := &sdk.ToolAnnotations{ReadOnlyHint: !write}
	d.server.AddTool(&sdk.Tool{Name: name, Description: desc, InputSchema: schema, Annotations: annotations},
		func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			var a core.Actor
			if req.Extra != nil && req.Extra.TokenInfo != nil {
				a, _ = req.Extra.TokenInfo.Extra["actor"].(core.Actor)
			}
			if a.User == nil {
				return d.toolError(ctx, name, core.ErrNoIdentity), nil
			}
			if err := a.CheckScope(write, area); err != nil {
				return d.toolError(ctx, name, err), nil
			}
			var in In
			if err := httpx.DecodeBytes(req.Params.Arguments, &in); err != nil {
				return d.toolError(ctx, name, err), nil
			}
			out, err := run(ctx, a, in)
			if err != nil {
				return d.toolError(ctx, name, err), nil
			}
			return result(out)
		})
}

// text is a tool answer that is text (a diff), not JSON.
type text string

func result(out any) (*sdk.CallToolResult, error) {
	if t, ok := out.(text); ok {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: string(t)}}}, nil
	}
	js, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	res := &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: string(js)}}}
	if len(js) > 0 && js[0] == '{' {
		res.StructuredContent = json.RawMessage(js)
	}
	return res, nil
}

// toolError is err as the REST API would word it: its message, then the
// problems by field.
func (d *Door) toolError(ctx context.Context, name string, err error) *sdk.CallToolResult {
	p, internal := httpx.ProblemOf(err)
	if internal {
		d.log.ErrorContext(ctx, "mcp tool failed", "tool", name, "err", err)
	}
	msg := p.Msg
	if len(p.Fields) > 0 {
		fields := make([]string, 0, len(p.Fields))
		for f := range p.Fields {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		var parts []string
		for _, f := range fields {
			parts = append(parts, f+" "+strings.Join(p.Fields[f], ", "))
		}
		msg += ": " + strings.Join(parts, "; ")
	}
	return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: fmt.Sprintf("%s (HTTP %d)", msg, p.Status)}}}
}
