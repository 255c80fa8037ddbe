package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/client"
)

// Where a client command's token comes from, first found wins:
//
//  1. --token or CLUSTERD_TOKEN;
//  2. the credentials 'clusterd login' saved (its address too, unless
//     --addr or CLUSTERD_ADDR names another);
//  3. for an address on this machine (loopback), the admin token that the
//     server which created the cluster keeps in its data dir (readable by
//     root only): $CLUSTERD_DATA_DIR/admin.token or /var/lib/clusterd/admin.token.

// savedCredentials is what 'clusterd login' writes (0600).
type savedCredentials struct {
	Addr  string `json:"addr"`
	Token string `json:"token"`
}

// credentialsPath is $XDG_CONFIG_HOME/clusterd/credentials.json (or under
// ~/.config).
func credentialsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the config dir for saved credentials: %w (set HOME or XDG_CONFIG_HOME)", err)
	}
	return filepath.Join(dir, "clusterd", "credentials.json"), nil
}

func loadCredentials() (savedCredentials, string, error) {
	path, err := credentialsPath()
	if err != nil {
		return savedCredentials{}, "", err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return savedCredentials{}, path, nil
	}
	if err != nil {
		return savedCredentials{}, path, fmt.Errorf("read saved credentials %s: %w", path, err)
	}
	var sc savedCredentials
	if err := json.Unmarshal(b, &sc); err != nil {
		return savedCredentials{}, path, fmt.Errorf("saved credentials %s are not valid JSON (%v); run 'clusterd login' again", path, err)
	}
	return sc, path, nil
}

// isSet reports whether a flag was given, on the command line or through
// its environment variable, at any level of the command.
func isSet(c *cli.Context, name string) bool {
	for _, cc := range c.Lineage() {
		if cc != nil && cc.IsSet(name) {
			return true
		}
	}
	return false
}

// clientCredentials is the address and token a client command uses.
func clientCredentials(c *cli.Context) (addr, token string, err error) {
	addr, token = lookupString(c, "addr"), lookupString(c, "token")
	explicit := isSet(c, "addr")
	saved, _, err := loadCredentials()
	if err != nil && token == "" {
		return "", "", err
	}
	if !explicit && saved.Addr != "" {
		addr = saved.Addr
	}
	if addr == "" {
		addr = defaultAddr
	}
	if token == "" && saved.Token != "" && sameAddr(saved.Addr, addr) {
		token = saved.Token
	}
	if token == "" && isLoopbackAddr(addr) {
		token = localAdminToken()
	}
	return addr, token, nil
}

func sameAddr(a, b string) bool {
	return client.New(a).Addr() == client.New(b).Addr()
}

// isLoopbackAddr reports whether an API address is on this machine.
func isLoopbackAddr(addr string) bool {
	u, err := url.Parse(client.New(addr).Addr())
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// localAdminToken is the admin token in this machine's data dir, if this
// user may read it.
func localAdminToken() string {
	dir := os.Getenv("CLUSTERD_DATA_DIR")
	if dir == "" {
		dir = defaultDataDir()
	}
	b, err := os.ReadFile(adminTokenPath(dir))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// clientOf is a client of another node's API with the same token.
func (env *clientEnv) clientOf(hostPort string) *client.Client {
	return client.New("http://" + hostPort).WithToken(env.token)
}

func loginCommand() *cli.Command {
	return &cli.Command{
		Name:      "login",
		Usage:     "check an API token and save it (and --addr) for the next commands",
		ArgsUsage: "[TOKEN]",
		Description: "Without TOKEN it is read from stdin (not echoed on a terminal), so it stays out of the\n" +
			"shell's history. The token and address are saved to ~/.config/clusterd/credentials.json (0600).",
		Flags: clientFlags(false),
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return usageErrorf("usage: clusterd login [TOKEN]")
			}
			tok := c.Args().First()
			if tok == "" {
				var err error
				if tok, err = readSecret(c.App.Reader, c.App.ErrWriter, "API token: "); err != nil {
					return err
				}
			}
			tok = strings.TrimSpace(tok)
			if tok == "" {
				return usageErrorf("login: no token given")
			}
			addr := lookupString(c, "addr")
			if addr == "" {
				addr = defaultAddr
			}
			cl := client.New(addr).WithToken(tok)
			who, err := cl.WhoAmI(c.Context)
			if err != nil {
				return fmt.Errorf("login to %s: %w", cl.Addr(), err)
			}
			if !who.Auth {
				return fmt.Errorf("login to %s: this node checks no tokens (a --dev node); nothing was saved", cl.Addr())
			}
			path, err := credentialsPath()
			if err != nil {
				return err
			}
			b, _ := json.MarshalIndent(savedCredentials{Addr: cl.Addr(), Token: tok}, "", "  ")
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return fmt.Errorf("save credentials: %w", err)
			}
			if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
				return fmt.Errorf("save credentials: %w", err)
			}
			env := &clientEnv{stdout: c.App.Writer, json: lookupString(c, "output") == "json"}
			if env.json {
				return printJSON(env.stdout, who)
			}
			fmt.Fprintf(env.stdout, "Logged in to %s with %s token %s%s; saved to %s\n", cl.Addr(), who.Scope, who.TokenID, nameNote(who.Name), path)
			return nil
		},
	}
}

func nameNote(name string) string {
	if name == "" {
		return ""
	}
	return " (" + name + ")"
}

func logoutCommand() *cli.Command {
	return &cli.Command{
		Name:  "logout",
		Usage: "forget the token 'clusterd login' saved",
		Action: func(c *cli.Context) error {
			path, err := credentialsPath()
			if err != nil {
				return err
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("logout: %w", err)
			}
			fmt.Fprintf(c.App.Writer, "Removed %s\n", path)
			return nil
		},
	}
}

// readSecret reads one line; on a terminal it asks for it with prompt and
// does not echo it.
func readSecret(in io.Reader, prompt io.Writer, question string) (string, error) {
	if f, ok := in.(*os.File); ok && isTerminal(f) {
		fd := int(f.Fd())
		if old, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
			noEcho := *old
			noEcho.Lflag &^= unix.ECHO
			if unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho) == nil {
				defer func() {
					_ = unix.IoctlSetTermios(fd, unix.TCSETS, old)
					fmt.Fprintln(prompt)
				}()
			}
		}
		fmt.Fprint(prompt, question)
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the token: %w", err)
	}
	return strings.TrimSpace(line), nil
}

func tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "make, list and revoke API tokens (needs an admin token)",
		Subcommands: []*cli.Command{
			{
				Name:  "create",
				Usage: "make an API token and print it (shown this once: the cluster keeps only its hash)",
				Flags: append(clientFlags(false),
					&cli.StringFlag{Name: "scope", Value: api.ScopeRead, Usage: "read (reads only), write (changes and launches too) or admin (tokens and snapshots too)"},
					&cli.StringFlag{Name: "name", Usage: "what the token is for, shown by 'token list'"},
					&cli.DurationFlag{Name: "ttl", Usage: "how long the token works (e.g. 720h); default: until revoked"},
				),
				Action: clientAction(0, "", func(c *cli.Context, env *clientEnv) error {
					req := api.TokenRequest{Scope: c.String("scope"), Name: c.String("name")}
					if d := c.Duration("ttl"); d != 0 {
						if d < 0 {
							return usageErrorf("--ttl %s: must be positive", d)
						}
						req.TTL = d.String()
					}
					tok, err := env.c.CreateToken(c.Context, req)
					if err != nil {
						return err
					}
					if env.json {
						return printJSON(env.stdout, tok)
					}
					// The token alone on stdout, so that $(clusterd token create) is it.
					fmt.Fprintln(env.stdout, tok.Secret)
					fmt.Fprintf(env.stderr, "Made %s token %s%s; it is shown only now.\n", tok.Scope, tok.ID, nameNote(tok.Name))
					return nil
				}),
			},
			{
				Name:  "list",
				Usage: "list the API tokens (never their secrets)",
				Flags: clientFlags(false),
				Action: clientAction(0, "", func(c *cli.Context, env *clientEnv) error {
					ts, err := env.c.Tokens(c.Context)
					if err != nil {
						return err
					}
					if env.json {
						return printJSON(env.stdout, ts)
					}
					return writeTokens(env.stdout, ts, nowOf(c))
				}),
			},
			{
				Name:      "revoke",
				Usage:     "revoke an API token: it stops working at once",
				ArgsUsage: "ID",
				Flags:     clientFlags(false),
				Action: clientAction(1, "ID", func(c *cli.Context, env *clientEnv) error {
					id := strings.TrimPrefix(c.Args().First(), api.APITokenPrefix)
					if i := strings.IndexByte(id, '-'); i >= 0 {
						id = id[:i] // a whole token was given: its id
					}
					if err := env.c.RevokeToken(c.Context, id); err != nil {
						if client.IsNotFound(err) {
							return fmt.Errorf("token %s not found; see 'clusterd token list'", id)
						}
						return err
					}
					return env.say(outcome{Action: "revoke_token", State: "revoked", Token: id}, "token %s revoked", id)
				}),
			},
		},
	}
}

func writeTokens(w io.Writer, ts []api.Token, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tSCOPE\tNAME\tCREATED\tEXPIRES")
	for _, t := range ts {
		expires := "never"
		if !t.ExpiresAt.IsZero() {
			expires = t.ExpiresAt.In(now.Location()).Format(time.DateTime)
			if !now.Before(t.ExpiresAt) {
				expires += " (expired)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Scope, dash(t.Name), agoText(t.CreatedAt, now), expires)
	}
	return tw.Flush()
}
