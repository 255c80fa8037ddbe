package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
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

	"github.com/clusterd/clusterd/node/pki"
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
	// CAPEM is the cluster CA login accepted for an https:// address.
	CAPEM string `json:"ca_pem,omitempty"`
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

// clientCredentials is the address, token and cluster CA (PEM, nil for
// none) a client command uses. The CA: --ca-file or CLUSTERD_CA_FILE, the
// one login saved for that address, or, for an address on this machine,
// DATA/tls/ca.crt.
func clientCredentials(c *cli.Context) (addr, token string, ca []byte, err error) {
	addr, token = lookupString(c, "addr"), lookupString(c, "token")
	explicit := isSet(c, "addr")
	saved, _, err := loadCredentials()
	if err != nil && token == "" {
		return "", "", nil, err
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
	switch f := lookupString(c, "ca-file"); {
	case f != "":
		if ca, err = os.ReadFile(f); err != nil {
			return "", "", nil, fmt.Errorf("--ca-file: %w", err)
		}
	case saved.CAPEM != "" && sameAddr(saved.Addr, addr):
		ca = []byte(saved.CAPEM)
	case isLoopbackAddr(addr):
		ca, _ = os.ReadFile(filepath.Join(localDataDir(), "tls", "ca.crt"))
	}
	return addr, token, ca, nil
}

func sameAddr(a, b string) bool {
	return client.New(a).Addr() == client.New(b).Addr()
}

// isLoopbackAddr reports whether an API address is on this machine: a
// loopback address or one of its interfaces' addresses.
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
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// localAdminToken is the admin token in this machine's data dir, if this
// user may read it.
func localAdminToken() string {
	b, err := os.ReadFile(adminTokenPath(localDataDir()))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// localDataDir is this machine's data dir: $CLUSTERD_DATA_DIR or the
// default.
func localDataDir() string {
	if dir := os.Getenv("CLUSTERD_DATA_DIR"); dir != "" {
		return dir
	}
	return defaultDataDir()
}

// clientOf is a client of another node's API with the same token and CA,
// over https when this one is.
func (env *clientEnv) clientOf(hostPort string) *client.Client {
	scheme := "http://"
	if strings.HasPrefix(env.c.Addr(), "https://") {
		scheme = "https://"
	}
	c, err := client.New(scheme + hostPort).WithCA(env.ca)
	if err != nil {
		c = client.New(scheme + hostPort) // the CA parsed once already
	}
	return c.WithToken(env.token)
}

func loginCommand() *cli.Command {
	return &cli.Command{
		Name:      "login",
		Usage:     "check an API token and save it (and --addr) for the next commands",
		ArgsUsage: "[TOKEN]",
		Description: "Without TOKEN it is read from stdin (not echoed on a terminal), so it stays out of the\n" +
			"shell's history. The token and address are saved to ~/.config/clusterd/credentials.json (0600).\n" +
			"For an https:// address the cluster CA is saved too: from --ca-file, or the one the node\n" +
			"presents if its SHA-256 is --ca-fingerprint (what 'clusterd init' printed).",
		Flags: append(clientFlags(false),
			&cli.StringFlag{Name: "ca-fingerprint", Usage: "SHA-256 (hex) of the cluster CA an https:// node must present"}),
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
			ca, err := loginCA(c, client.New(addr).Addr())
			if err != nil {
				return err
			}
			base, err := client.New(addr).WithCA(ca)
			if err != nil {
				return err
			}
			cl := base.WithToken(tok)
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
			b, _ := json.MarshalIndent(savedCredentials{Addr: cl.Addr(), Token: tok, CAPEM: string(ca)}, "", "  ")
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

// loginCA is the cluster CA login trusts for an https:// address (nil for
// http): --ca-file, this machine's DATA/tls/ca.crt for a local address, or
// the CA the node presents when its fingerprint is --ca-fingerprint. It
// never trusts on first use: without a fingerprint it says which one it
// saw and sends nothing.
func loginCA(c *cli.Context, addr string) ([]byte, error) {
	if !strings.HasPrefix(addr, "https://") {
		return nil, nil
	}
	if f := lookupString(c, "ca-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		return b, nil
	}
	if isLoopbackAddr(addr) {
		if b, err := os.ReadFile(filepath.Join(localDataDir(), "tls", "ca.crt")); err == nil {
			return b, nil
		}
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", host, &tls.Config{InsecureSkipVerify: true}) // only to read the CA; checked below
	if err != nil {
		return nil, fmt.Errorf("login to %s: %w", addr, err)
	}
	chain := conn.ConnectionState().PeerCertificates
	conn.Close()
	ca := chain[len(chain)-1]
	if len(chain) < 2 || !ca.IsCA {
		return nil, fmt.Errorf("login to %s: the node presents no CA certificate with its own; pass the cluster CA with --ca-file", addr)
	}
	sum := sha256.Sum256(ca.Raw)
	got := hex.EncodeToString(sum[:])
	want := strings.ToLower(strings.ReplaceAll(lookupString(c, "ca-fingerprint"), ":", ""))
	switch {
	case want == "":
		return nil, fmt.Errorf("login to %s: the node presents a cluster CA with fingerprint %s; if it is the one 'clusterd init' printed (or 'clusterd status' shows on a server), run again with --ca-fingerprint %s; nothing was sent", addr, got, got)
	case want != got:
		return nil, fmt.Errorf("login to %s: the node presents a cluster CA with fingerprint %s, not %s: another cluster, or a man in the middle; nothing was sent", addr, got, want)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), nil
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
		Usage: "make, list and revoke API tokens, rotate join tokens (needs an admin token), make a bootstrap token",
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
			{
				Name:  "bootstrap",
				Usage: "make a bootstrap token for a cluster formed by --bootstrap-expect (offline: talks to no node)",
				Description: "Every machine given the same bootstrap token derives from it the same cluster: its CA, gossip key,\n" +
					"join tokens and first admin token, so the cluster is on mutual TLS and encrypted gossip from its first\n" +
					"packet. Give it to each server:  clusterd join --bootstrap-expect 3 --token TOKEN IP1 IP2 IP3\n" +
					"and to agents:  clusterd join --server=false --token TOKEN IP1. Whoever holds it can sign node\n" +
					"certificates: keep it where you keep the cluster's other secrets (e.g. an SSM SecureString).",
				Flags: []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output format: table or json", DefaultText: "global --output, $CLUSTERD_OUTPUT or table"}},
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return usageErrorf("token bootstrap takes no arguments")
					}
					tok, err := pki.NewBootstrapToken(rand.Reader)
					if err != nil {
						return err
					}
					b, err := tok.Derive()
					if err != nil {
						return err
					}
					out := c.App.Writer
					if lookupString(c, "output") == "json" {
						return printJSON(out, map[string]string{"bootstrap_token": tok.String(), "cluster_id": b.ClusterID,
							"ca_fingerprint": pki.FingerprintHex(b.CA.Cert), "admin_token": b.AdminToken.String()})
					}
					fmt.Fprintf(out, "Bootstrap token: %s\nCluster id:      %s\nCA fingerprint:  %s\nAdmin token:     %s\n\n",
						tok, b.ClusterID, pki.FingerprintHex(b.CA.Cert), b.AdminToken)
					fmt.Fprintf(out, "Servers:  clusterd join --bootstrap-expect 3 --token %s IP1 IP2 IP3\n", tok)
					fmt.Fprintf(out, "Agents:   clusterd join --server=false --token %s IP1\n", tok)
					fmt.Fprintln(out, "The admin token works once the cluster has formed (clusterd login); the first leader also writes it to admin.token in its data dir.")
					return nil
				},
			},
			{
				Name:      "rotate",
				Usage:     "replace the join token of servers or agents and print the new one (the old one stops admitting machines; nodes that joined stay)",
				ArgsUsage: "server|agent",
				Flags:     clientFlags(false),
				Action: clientAction(1, "server|agent", func(c *cli.Context, env *clientEnv) error {
					role := c.Args().First()
					if role != "server" && role != "agent" {
						return usageErrorf("token rotate %q: say server or agent", role)
					}
					tok, err := env.c.RotateJoinToken(c.Context, role)
					if err != nil {
						return err
					}
					if env.json {
						return printJSON(env.stdout, tok)
					}
					fmt.Fprintln(env.stdout, tok.Token)
					flag := ""
					if role == "agent" {
						flag = " --server=false"
					}
					fmt.Fprintf(env.stderr, "New %s join token; the previous one no longer works. Join with: clusterd join%s --token TOKEN PEER\n", role, flag)
					return nil
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

func gossipCommand() *cli.Command {
	show := func(env *clientEnv, st api.GossipStatus) error {
		if env.json {
			return printJSON(env.stdout, st)
		}
		if !st.Encrypted {
			fmt.Fprintln(env.stdout, "Gossip is not encrypted in this cluster (it was not made by 'clusterd init').")
			return nil
		}
		round := "none"
		if st.Rotation != "" {
			round = st.Rotation
		}
		fmt.Fprintf(env.stdout, "Encrypted:  yes, %d key(s), keyring %s\nRotation:   %s\n", st.Keys, st.Digest, round)
		if len(st.Pending) > 0 {
			fmt.Fprintf(env.stdout, "Waiting on: %s\n", strings.Join(st.Pending, ", "))
		}
		return nil
	}
	return &cli.Command{
		Name:  "gossip",
		Usage: "see gossip encryption, and rotate its key",
		Subcommands: []*cli.Command{
			{
				Name:  "status",
				Usage: "whether gossip is encrypted, and where a key rotation is",
				Flags: clientFlags(false),
				Action: clientAction(0, "", func(c *cli.Context, env *clientEnv) error {
					st, err := env.c.GossipStatus(c.Context)
					if err != nil {
						return err
					}
					return show(env, st)
				}),
			},
			{
				Name: "rotate",
				Usage: "replace the gossip key in three rounds (every node learns the new key, sends with it, forgets the old), " +
					"each once every live node is at the one before (needs an admin token)",
				Flags: append(clientFlags(false),
					&cli.BoolFlag{Name: "wait", Usage: "wait until the rotation is done"},
					&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "with --wait: give up (exit 1) after this long"}),
				Action: clientAction(0, "", func(c *cli.Context, env *clientEnv) error {
					st, err := env.c.RotateGossipKey(c.Context)
					if err != nil {
						return err
					}
					if !c.Bool("wait") {
						return show(env, st)
					}
					deadline := time.Now().Add(c.Duration("timeout"))
					// Done once the last round reached every live node too.
					for st.Rotation != "" || len(st.Pending) > 0 {
						if time.Now().After(deadline) {
							_ = show(env, st)
							return fmt.Errorf("the gossip key rotation did not finish within %s (round %s, waiting on %s)", c.Duration("timeout"), st.Rotation, strings.Join(st.Pending, ", "))
						}
						time.Sleep(time.Second)
						if st, err = env.c.GossipStatus(c.Context); err != nil {
							return err
						}
					}
					return show(env, st)
				}),
			},
		},
	}
}
