"""Bradley-Terry strengths by maximum likelihood, the Elo scale, and online Elo.

The Bradley-Terry model gives each system a log-strength theta, and system i
beats system j with probability

    p_ij = 1 / (1 + exp(theta_j - theta_i)).

A tie and a "both bad" answer each count as half a win for both sides, the
Chatbot Arena convention. The data is then a matrix S of win counts (which
may be half-integers), S[i, j] being the wins of i over j plus half the ties
and "both bad" answers between them, and the log-likelihood is

    l(theta) = sum over i != j of S[i, j] * log p_ij.

Fit: Newton's method with a backtracking line search, on many count
matrices at once so that all bootstrap rounds are fitted together.

When the maximum-likelihood estimate exists: it is finite exactly when the
directed graph with an edge i -> j whenever S[i, j] > 0 is strongly
connected (Hunter, "MM algorithms for generalized Bradley-Terry models",
Annals of Statistics 32, 2004, Assumption 1). Put plainly, however the
systems are split into two groups, each group beat the other at least
once, a tie counting both ways. Otherwise the likelihood keeps growing as
some gap between ratings grows, so no finite rating fits best.
`identified` checks that condition, and `unidentified_reason` names the
groups at fault.

Virtual ties keep every fit finite: each pair of systems gets VIRTUAL_TIES of
a tie, that is half as much of a win each way. On data whose estimate is
finite this moves ratings by about VIRTUAL_TIES divided by the pair's
comparisons, in log-strength units (far below what a report shows). On data
without a finite estimate it gives large but finite gaps of roughly
log(comparisons / VIRTUAL_TIES): 20 to 25 natural-log units, 3,500 to
4,400 Elo points, for 3 to 500 comparisons. Callers must report such ratings as
undefined rather than show them.

The Elo scale puts 400 points on a factor of 10 in strength:

    rating_i = 1000 + 400 * log10(strength_i / anchor strength)
             = 1000 + (400 / ln 10) * (theta_i - theta_anchor).
"""

import math

import numpy as np
from scipy.special import expit

ELO_BASE_RATING = 1000.0
ELO_POINTS_PER_DECADE = 400.0
ONLINE_ELO_CHUNK = 100_000
ELO_PER_LOG_STRENGTH = ELO_POINTS_PER_DECADE / math.log(10)

VIRTUAL_TIES = 1e-8
# Newton's method converges quadratically, so once a step is this small the
# remaining error is far smaller still: 1e-10 in log-strength is about 2e-8
# Elo points.
STEP_TOLERANCE = 1e-10
MAX_ITERATIONS = 200
MAX_STEP_HALVINGS = 40


def fit_log_strengths(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fit Bradley-Terry log-strengths to one or many win-count matrices.

    `scores` has shape (m, m) or (rounds, m, m); scores[..., i, j] counts the
    wins of i over j, ties already split in halves, and the diagonal is
    ignored. Returns the log-strengths, of shape (m,) or (rounds, m), each
    row centred on mean 0 (that is, anchored at the geometric mean of the
    strengths), and a boolean array telling which fits converged.

    Steps, for all rounds at once:
    1. Add VIRTUAL_TIES to every pair, so that every fit has a finite optimum.
    2. From theta = 0, take Newton steps on the log-likelihood. The Hessian is
       singular along the all-ones vector, because adding a constant to every
       theta changes no probability; adding the all-ones outer product fixes
       that and leaves the step unchanged on centred thetas.
    3. Halve a step while it lowers the log-likelihood, and stop once every
       round is done: its step moved no theta by more than STEP_TOLERANCE,
       or it no longer raised the log-likelihood beyond rounding.
    """
    single = scores.ndim == 2
    batch = np.array(scores[None] if single else scores, dtype=np.float64)
    rounds, size = batch.shape[0], batch.shape[1]
    off_diagonal = ~np.eye(size, dtype=bool)
    batch = np.where(off_diagonal, batch + VIRTUAL_TIES / 2, 0.0)
    comparisons = batch + batch.transpose(0, 2, 1)
    gauge = np.ones((size, size)) / size
    diagonal = np.arange(size)

    theta = np.zeros((rounds, size))
    converged = np.zeros(rounds, dtype=bool)
    objective = _negative_log_likelihood(theta, batch)
    for _ in range(MAX_ITERATIONS):
        win_probability = expit(theta[:, :, None] - theta[:, None, :])
        gradient = (batch - comparisons * win_probability).sum(axis=2)
        weights = comparisons * win_probability * (1 - win_probability)
        # The Hessian of -l: off the diagonal -weights, on it the row sums
        # (the diagonal of `weights` is 0 because `comparisons` is).
        hessian = -weights
        hessian[:, diagonal, diagonal] += weights.sum(axis=2)
        step = np.linalg.solve(hessian + gauge, gradient[:, :, None])[:, :, 0]
        step -= step.mean(axis=1, keepdims=True)

        new_theta, new_objective, moved = _line_search(theta, step, objective, batch)
        # A round is done when its step is below the tolerance, or when the
        # step no longer raises the likelihood beyond rounding. Where the
        # likelihood is curved, that second case means a full Newton step was
        # just taken from very near the optimum. Along flat directions (data
        # without a finite estimate), rounding in the gradient keeps steps
        # near 1e-7 for ever, so the tolerance alone would never be met.
        converged = (moved <= STEP_TOLERANCE) | (objective - new_objective <= _rounding_slack(objective))
        theta, objective = new_theta, new_objective
        if converged.all():
            break

    if single:
        return theta[0], converged[0]
    return theta, converged


def _negative_log_likelihood(theta: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Return -l(theta) per round; log(1 + exp(-x)) is computed without overflow."""
    differences = theta[:, :, None] - theta[:, None, :]
    return (scores * np.logaddexp(0.0, -differences)).sum(axis=(1, 2))


def _line_search(
    theta: np.ndarray, step: np.ndarray, objective: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Take the largest step t * step, t = 1, 1/2, 1/4 ..., that does not lower the likelihood.

    Returns the new thetas, their objective values and the largest change of
    a theta per round. A round whose every halving fails keeps its theta and
    reports a change of 0, which happens only at the optimum, where rounding
    decides the comparison.
    """
    scale = np.ones(theta.shape[0])
    pending = np.ones(theta.shape[0], dtype=bool)
    new_theta = theta.copy()
    new_objective = objective.copy()
    slack = _rounding_slack(objective)
    for _ in range(MAX_STEP_HALVINGS):
        candidate = theta + scale[:, None] * step
        candidate_objective = _negative_log_likelihood(candidate, scores)
        accepted = pending & (candidate_objective <= objective + slack)
        new_theta[accepted] = candidate[accepted]
        new_objective[accepted] = candidate_objective[accepted]
        pending &= ~accepted
        if not pending.any():
            break
        scale[pending] /= 2

    moved = np.abs(new_theta - theta).max(axis=1)
    return new_theta, new_objective, moved


def _rounding_slack(objective: np.ndarray) -> np.ndarray:
    """Return how far rounding may move an objective value: a relative 1e-13, ample for sums of millions of terms."""
    return 1e-13 * np.maximum(np.abs(objective), 1.0)


def identified(scores: np.ndarray) -> np.ndarray:
    """Tell, per matrix, whether the Bradley-Terry estimate is finite.

    `scores` has shape (m, m) or (rounds, m, m), as for `fit_log_strengths`,
    without virtual ties. The estimate is finite when every system can reach
    every other along edges i -> j with scores[i, j] > 0 (i beat or tied j).
    Reachability comes from repeated squaring of the adjacency matrix.
    """
    reach = _reachability(scores)
    return reach.all(axis=(-2, -1))


def _reachability(scores: np.ndarray) -> np.ndarray:
    """Return reach[..., i, j]: True when j can be reached from i along edges with positive scores."""
    size = scores.shape[-1]
    reach = (scores > 0) | np.eye(size, dtype=bool)
    steps = 1
    while steps < size:
        as_float = reach.astype(np.float64)
        reach = (as_float @ as_float) > 0
        steps *= 2
    return reach


def unidentified_groups(scores: np.ndarray) -> tuple[list[list[int]], list[list[int]]]:
    """Explain why one (m, m) count matrix has no finite estimate.

    Returns two lists of groups of system indices:
    - connected groups: systems linked by comparisons in either direction.
      More than one group means some systems were never compared, directly
      or through others, with the rest, so their ratings cannot be related.
    - unbeaten groups: within a connected group, the strongly connected
      groups that no system outside them ever beat or tied. Such a group
      won all of its comparisons with the rest of its connected group.
    Both lists are empty when the estimate is finite.
    """
    compared = (scores + scores.T) > 0
    connected = _group_by_mutual_reach(_reachability(compared.astype(float)))
    reach = _reachability(scores)
    strong = _group_by_mutual_reach(reach)
    if len(strong) == 1:
        return [], []

    unbeaten = []
    for group in strong:
        component = next(c for c in connected if group[0] in c)
        others = [index for index in component if index not in group]
        beaten_by_others = any(scores[other, member] > 0 for other in others for member in group)
        if others and not beaten_by_others:
            unbeaten.append(group)
    return (connected if len(connected) > 1 else []), unbeaten


def _group_by_mutual_reach(reach: np.ndarray) -> list[list[int]]:
    """Group indices that reach each other, in order of their lowest index."""
    mutual = reach & reach.T
    groups, seen = [], set()
    for index in range(reach.shape[0]):
        if index in seen:
            continue
        group = [int(other) for other in np.flatnonzero(mutual[index])]
        seen.update(group)
        groups.append(group)
    return groups


def elo_ratings(log_strengths: np.ndarray, anchor: int | None = None) -> np.ndarray:
    """Convert log-strengths to the Elo scale, along the last axis.

    With `anchor` None, 1000 is the geometric mean strength, so the mean
    rating is 1000. With an index, that system is 1000 and the others are
    rated relative to it.
    """
    if anchor is None:
        reference = log_strengths.mean(axis=-1, keepdims=True)
    else:
        reference = log_strengths[..., anchor : anchor + 1]
    return ELO_BASE_RATING + ELO_PER_LOG_STRENGTH * (log_strengths - reference)


def predicted_win_probability(ratings: np.ndarray) -> np.ndarray:
    """Return the (m, m) matrix of P(row beats column) implied by Elo-scale ratings.

    A tie counts as half a win, as in the fit, so this is the expected share
    of the row system's points. The diagonal is 0.5.
    """
    gaps = (ratings[None, :] - ratings[:, None]) / ELO_POINTS_PER_DECADE
    return 1.0 / (1.0 + np.power(10.0, gaps))


def online_elo(
    first: np.ndarray,
    second: np.ndarray,
    first_score: np.ndarray,
    size: int,
    *,
    k_factor: float,
) -> np.ndarray:
    """Run the classic Elo update over judgments in the order given.

    `first[t]` and `second[t]` are the indices of the two systems of
    judgment t, and `first_score[t]` is 1 when the first won, 0 when it lost
    and 0.5 for a tie or "both bad". Every system starts at 1000. Returns
    the final ratings. Unlike the Bradley-Terry fit, the result depends on
    the order of the judgments, and the last ones weigh most.
    """
    ratings = [ELO_BASE_RATING] * size
    # Python floats in a list run this sequential loop faster than numpy
    # scalars; converting a chunk at a time keeps the lists short.
    for start in range(0, len(first), ONLINE_ELO_CHUNK):
        chunk = slice(start, start + ONLINE_ELO_CHUNK)
        for a, b, score in zip(first[chunk].tolist(), second[chunk].tolist(), first_score[chunk].tolist(), strict=True):
            expected = 1.0 / (1.0 + 10.0 ** ((ratings[b] - ratings[a]) / ELO_POINTS_PER_DECADE))
            change = k_factor * (score - expected)
            ratings[a] += change
            ratings[b] -= change
    return np.array(ratings)
