package oauth

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"ticketd/config"
)

// Client is the SASL client (go-sasl's interface) of OAUTHBEARER (RFC 7628
// §3.1) or XOAUTH2 for one login. After a failed exchange Status holds the
// status of the server's error challenge (RFC 7628 §3.2.2: "invalid_token",
// "insufficient_scope", ...; Google's XOAUTH2 sends the HTTP code, "401").
type Client struct {
	Mech   string
	User   string
	Token  string
	Host   string // OAUTHBEARER only, optional
	Port   int    // OAUTHBEARER only, optional
	Status string
	Scope  string // the scope the error challenge asks for, if any
}

// NewClient returns the SASL client of mech.
func NewClient(mech, user, token, host string, port int) *Client {
	return &Client{Mech: mech, User: user, Token: token, Host: host, Port: port}
}

// Start sends the initial response: the GS2 header and the bearer token
// for OAUTHBEARER, "user=...^Aauth=Bearer ...^A^A" for XOAUTH2.
func (c *Client) Start() (string, []byte, error) {
	if strings.ContainsAny(c.User, "\x00\x01") {
		return "", nil, fmt.Errorf("sasl %s: the user name holds a control character", c.Mech)
	}
	switch c.Mech {
	case config.MechOAuthBearer:
		// The authzid is a saslname (RFC 5801 §4): "," and "=" escaped.
		s := "n,a=" + strings.NewReplacer("=", "=3D", ",", "=2C").Replace(c.User) + ","
		if c.Host != "" {
			s += "\x01host=" + c.Host
		}
		if c.Port != 0 {
			s += "\x01port=" + strconv.Itoa(c.Port)
		}
		return c.Mech, []byte(s + "\x01auth=Bearer " + c.Token + "\x01\x01"), nil
	case config.MechXOAuth2:
		return c.Mech, []byte("user=" + c.User + "\x01auth=Bearer " + c.Token + "\x01\x01"), nil
	}
	return "", nil, fmt.Errorf("sasl: unknown mechanism %q", c.Mech)
}

// Next answers the server's error challenge: it keeps its status and
// replies as the mechanism requires (OAUTHBEARER a single ^A, XOAUTH2 an
// empty response), after which the server ends the exchange with a failure.
func (c *Client) Next(challenge []byte) ([]byte, error) {
	var e struct {
		Status string `json:"status"`
		Scope  string `json:"scope"`
	}
	if json.Unmarshal(challenge, &e) == nil {
		c.Status, c.Scope = Clean(e.Status), Clean(e.Scope)
	} else {
		c.Status = "unreadable"
	}
	if c.Mech == config.MechOAuthBearer {
		return []byte{0x01}, nil
	}
	return []byte{}, nil
}

// Explain says what the status of a refused login means, "" when there
// is none.
func (c *Client) Explain() string {
	switch c.Status {
	case "":
		return ""
	case "invalid_token", "401":
		return "the server refused the access token (status " + c.Status + "): expired, revoked, or not issued for this account"
	case "insufficient_scope", "403":
		s := "the access token lacks a scope the server needs (status " + c.Status + ")"
		if c.Scope != "" {
			s += ", it asks for " + strconv.Quote(c.Scope)
		}
		return s
	}
	return "the server refused the access token (status " + strconv.Quote(c.Status) + ")"
}

// Mechanism picks the SASL mechanism: the configured one, which the server
// must offer, or the first of OAUTHBEARER and XOAUTH2 it offers.
func Mechanism(configured string, offers func(mech string) bool, offered string) (string, error) {
	if configured != "" {
		if !offers(configured) {
			return "", fmt.Errorf("sasl_mechanism %s: the server does not offer it (it offers %s)", configured, offered)
		}
		return configured, nil
	}
	for _, m := range []string{config.MechOAuthBearer, config.MechXOAuth2} {
		if offers(m) {
			return m, nil
		}
	}
	return "", fmt.Errorf("the server offers neither OAUTHBEARER nor XOAUTH2 (it offers %s)", offered)
}
