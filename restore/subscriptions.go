package restore

import (
	"context"
	"fmt"
	"slices"
)

// restoreSubscriptions gives acct the subscribed names want (folder paths
// and names without a folder, as backup.AccountState.Subscriptions has
// them). exact also unsubscribes what want lacks (an account as of a time,
// whose starting folders or renamed and deleted folders left names
// behind); otherwise names are only added (an external restore into an
// account that may have its own).
func (r *Restorer) restoreSubscriptions(ctx context.Context, acct uint64, want []string, exact bool) error {
	have, err := r.eng.Subscriptions(ctx, acct)
	if err != nil {
		return fmt.Errorf("subscriptions: %w", err)
	}
	var add, drop []string
	for _, n := range want {
		if !slices.Contains(have, normPath(n)) {
			add = append(add, n)
		}
	}
	if exact {
		for _, n := range have {
			if !slices.ContainsFunc(want, func(w string) bool { return normPath(w) == n }) {
				drop = append(drop, n)
			}
		}
	}
	if len(add) > 0 {
		if err := r.eng.SetSubscriptions(ctx, acct, add, true); err != nil {
			return fmt.Errorf("subscribe %q: %w", add, err)
		}
	}
	if len(drop) > 0 {
		if err := r.eng.SetSubscriptions(ctx, acct, drop, false); err != nil {
			return fmt.Errorf("unsubscribe %q: %w", drop, err)
		}
	}
	return nil
}
