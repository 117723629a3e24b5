"""From who did to who should: a least-privilege key policy proposed from the calls of a window.

``suggest_policy(store, "alias/orders", SuggestOptions(since=...))`` returns a ``Suggestion``:
the policy document (``Suggestion.text`` is what ``aws kms put-key-policy`` takes), why each
statement is there, what it removes, keeps and adds against the inventory's current policy, the
replay of every successful call of the window against it (``Suggestion.replay.denied`` must be
0), warnings about what the evidence cannot show, and the grants nobody used.

The parts: ``observed`` (the evidence), ``principals`` (naming principals in a key policy),
``evidence`` (conditions from uniform evidence), ``services`` (what AWS's pages say services
need), ``drafting`` (the statements), ``conditions`` and ``replay`` (evaluating a policy against
the calls), ``changes`` (the diff), ``validate`` (KMS's rules for a policy document),
``warnings``, ``suggest`` (all of it for one key).
"""

from keytrail.analysis.tighten.suggest import (
    MIN_DAYS,
    Suggestion,
    SuggestOptions,
    policy_text,
    resolve_key,
    suggest_policy,
    suggestions_for,
)

__all__ = ["MIN_DAYS", "SuggestOptions", "Suggestion", "policy_text", "resolve_key", "suggest_policy", "suggestions_for"]
