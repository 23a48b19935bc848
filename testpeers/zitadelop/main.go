// Command zitadelop runs the example OpenID Provider of zitadel/oidc (its
// in-memory storage, its login page and users) on 127.0.0.1, for mcptray's
// tests: an authorization server that knows only the clients it was started
// with and offers no dynamic registration.
//
// It differs from the upstream example's main in what a test needs: it
// listens on 127.0.0.1 on a port the system picks (announced on stderr as
// "MCPTRAY_PEER_LISTENING port"), its issuer is that address, and its
// clients come from flags. Each -client is id=redirect[,redirect...] for a
// public native client (PKCE, refresh tokens; loopback redirects match on
// any port, RFC 8252 section 7.3); each -secret-client is
// id:secret=redirect[,...] for a confidential web client (client_secret_basic).
// Their access tokens are JWTs, so that a resource server can verify them,
// with the granted scopes in their "scope" claim; every client may use the
// device authorization grant (RFC 8628) the provider advertises;
// -scope names the scopes a client may ask for besides the OpenID ones
// (the provider drops any other scope from a request without an error).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var natives, webs, scopes listFlag
	flag.Var(&natives, "client", "a public native client: id=redirect[,redirect...]")
	flag.Var(&webs, "secret-client", "a confidential web client: id:secret=redirect[,redirect...]")
	flag.Var(&scopes, "scope", "a scope clients may ask for besides openid, profile, email, phone, address and offline_access")
	flag.Parse()
	if err := run(natives, webs, scopes); err != nil {
		fmt.Fprintln(os.Stderr, "zitadelop:", err)
		os.Exit(1)
	}
}

func run(natives, webs, scopes []string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	issuer := fmt.Sprintf("http://127.0.0.1:%d", port)

	var clients []*storage.Client
	for _, c := range natives {
		id, redirects, ok := strings.Cut(c, "=")
		if !ok {
			return fmt.Errorf("-client %q: want id=redirect", c)
		}
		clients = append(clients, storage.NativeClient(id, strings.Split(redirects, ",")...))
	}
	for _, c := range webs {
		cred, redirects, ok := strings.Cut(c, "=")
		id, secret, ok2 := strings.Cut(cred, ":")
		if !ok || !ok2 {
			return fmt.Errorf("-secret-client %q: want id:secret=redirect", c)
		}
		clients = append(clients, storage.WebClient(id, secret, strings.Split(redirects, ",")...))
	}
	storage.RegisterClients(clients...)

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	users := storage.NewUserStore(issuer)
	st := &scopedStorage{Storage: storage.NewStorage(users), users: users, scopes: scopes}
	router := exampleop.SetupServer(issuer, st, log, false)
	srv := &http.Server{Handler: router, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(os.Stderr, "MCPTRAY_PEER_LISTENING %d\n", port)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// scopedStorage is the example storage whose clients get JWT access tokens
// and may ask for the configured scopes. The example's clients allow only
// its own "custom_scope".
type scopedStorage struct {
	*storage.Storage
	users  storage.UserStore
	scopes []string
}

// CompleteDeviceAuthorization records the user who approved a device
// sign-in by id: the example's device login passes the user name, which
// the token's claims cannot be looked up by ("user not found").
func (s *scopedStorage) CompleteDeviceAuthorization(ctx context.Context, userCode, username string) error {
	if u := s.users.GetUserByUsername(username); u != nil {
		username = u.ID
	}
	return s.Storage.CompleteDeviceAuthorization(ctx, userCode, username)
}

// GetPrivateClaimsFromScopes is op.Storage's hook for the claims a JWT
// access token asserts for its scopes: besides the example's own, the
// granted scopes as RFC 9068's "scope" claim, which zitadel/oidc does not
// write, so that a resource server can answer 403 insufficient_scope.
func (s *scopedStorage) GetPrivateClaimsFromScopes(ctx context.Context, userID, clientID string, scopes []string) (map[string]any, error) {
	claims, err := s.Storage.GetPrivateClaimsFromScopes(ctx, userID, clientID, scopes)
	if err != nil {
		return nil, err
	}
	if claims == nil {
		claims = map[string]any{}
	}
	claims["scope"] = strings.Join(scopes, " ")
	return claims, nil
}

func (s *scopedStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return scopedClient{Client: c, scopes: s.scopes}, nil
}

type scopedClient struct {
	op.Client
	scopes []string
}

func (c scopedClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }

// GrantTypes adds the device authorization grant (RFC 8628) that the
// provider advertises: the example's clients do not have it.
func (c scopedClient) GrantTypes() []oidc.GrantType {
	gt := c.Client.GrantTypes()
	if !slices.Contains(gt, oidc.GrantTypeDeviceCode) {
		gt = append(slices.Clone(gt), oidc.GrantTypeDeviceCode)
	}
	return gt
}

func (c scopedClient) IsScopeAllowed(scope string) bool {
	return slices.Contains(c.scopes, scope) || c.Client.IsScopeAllowed(scope)
}
