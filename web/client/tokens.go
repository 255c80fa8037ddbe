package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/clusterd/clusterd/web/api"
)

// WhoAmI is GET /v1/whoami: what the client's token grants.
func (c *Client) WhoAmI(ctx context.Context) (api.WhoAmI, error) {
	var w api.WhoAmI
	err := c.do(ctx, "GET", "/v1/whoami", nil, nil, &w)
	return w, err
}

// Tokens is GET /v1/tokens (admin).
func (c *Client) Tokens(ctx context.Context) ([]api.Token, error) {
	var ts []api.Token
	err := c.do(ctx, "GET", "/v1/tokens", nil, nil, &ts)
	return ts, err
}

// CreateToken is POST /v1/tokens (admin); the answer holds the token's
// secret, shown this once.
func (c *Client) CreateToken(ctx context.Context, req api.TokenRequest) (api.Token, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return api.Token{}, fmt.Errorf("encode token request: %w", err)
	}
	var t api.Token
	err = c.do(ctx, "POST", "/v1/tokens", nil, body, &t)
	return t, err
}

// RevokeToken is DELETE /v1/tokens/ID (admin).
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/v1/tokens/"+url.PathEscape(id), nil, nil, nil)
}

// RotateJoinToken is POST /v1/join-tokens/ROLE (admin): a new join token
// for "server" or "agent"; the previous one stops working.
func (c *Client) RotateJoinToken(ctx context.Context, role string) (api.JoinToken, error) {
	var t api.JoinToken
	err := c.do(ctx, "POST", "/v1/join-tokens/"+url.PathEscape(role), nil, nil, &t)
	return t, err
}

// GossipStatus is GET /v1/gossip.
func (c *Client) GossipStatus(ctx context.Context) (api.GossipStatus, error) {
	var st api.GossipStatus
	err := c.do(ctx, "GET", "/v1/gossip", nil, nil, &st)
	return st, err
}

// RotateGossipKey is POST /v1/gossip/rotate (admin): it starts a rotation.
func (c *Client) RotateGossipKey(ctx context.Context) (api.GossipStatus, error) {
	var st api.GossipStatus
	err := c.do(ctx, "POST", "/v1/gossip/rotate", nil, nil, &st)
	return st, err
}
