package etcd

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestInDoubt: the errors after which a write transaction may have been
// applied (and is sent again) are told apart from etcd's refusals.
func TestInDoubt(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{rpctypes.ErrLeaderChanged, true},
		{rpctypes.ErrTimeout, true},
		{rpctypes.ErrTimeoutDueToLeaderFail, true},
		{rpctypes.ErrNoLeader, true},
		{fmt.Errorf("wrapped: %w", rpctypes.ErrTimeoutDueToConnectionLost), true},
		{status.Error(codes.Unavailable, "transport is closing"), true},
		{context.DeadlineExceeded, true},
		{rpctypes.ErrTooManyOps, false},
		{rpctypes.ErrRequestTooLarge, false},
		{rpctypes.ErrPermissionDenied, false},
		{status.Error(codes.InvalidArgument, "bad"), false},
		{context.Canceled, false},
		{errors.New("something else"), false},
	} {
		if got := inDoubt(c.err); got != c.want {
			t.Errorf("inDoubt(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
