package main

import "context"

func contextWith(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, ctxKey{}, n)
}
