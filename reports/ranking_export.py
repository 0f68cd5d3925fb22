"""CSV and JSON exports of a pairwise study's rankings (reports.ranking).

- `<study>-rankings.csv`: one row per criterion and system, in ranking
  order, in the same format as the judgments export (UTF-8 with a byte
  order mark unless asked without, RFC 4180, CRLF line ends, formula-like
  text cells prefixed with an apostrophe). Numbers carry full precision;
  missing figures are empty cells.
- `<study>-rankings.csv.meta.json`: the method (bootstrap rounds, seed,
  confidence, anchor, K of online Elo), the counts each criterion rests on,
  why figures are missing, position bias, and the columns.
- `<study>-rankings.json`: everything at once, adding the counts per ordered
  pair and the predicted win probability matrix.

Texts that reports translate (the reasons for a missing figure) are written
in English, so a file does not change with the downloader's language.
"""

import csv
import io
from datetime import UTC

from django.utils import timezone, translation
from django.utils.text import slugify

from annotate.models import Study
from reports.export import BYTE_ORDER_MARK, Column, _humeval_version, csv_encoding, neutralise
from reports.ranking import Ranking, study_rankings

COLUMNS = (
    Column("criterion", "Name of the criterion the row ranks on."),
    Column(
        "rank",
        "1 plus the number of systems whose rating interval lies wholly above this one's; empty without intervals.",
    ),
    Column("system", "System name: the model's name plus its variant label."),
    Column(
        "rating",
        "Bradley-Terry rating on the Elo scale (400 points per factor of 10 in strength); empty when undefined.",
    ),
    Column("rating_lower", "Lower bound of the rating's percentile bootstrap interval."),
    Column("rating_upper", "Upper bound of the rating's percentile bootstrap interval."),
    Column("win_rate", "(wins + (ties + both_bad) / 2) / comparisons."),
    Column("win_rate_lower", "Lower bound of the win rate's percentile bootstrap interval."),
    Column("win_rate_upper", "Upper bound of the win rate's percentile bootstrap interval."),
    Column("wins", "Comparisons this system won."),
    Column("losses", "Comparisons this system lost."),
    Column("ties", "Comparisons judged a tie."),
    Column("both_bad", "Comparisons judged both bad."),
    Column("comparisons", "wins + losses + ties + both_bad."),
    Column(
        "online_elo", "Elo updated judgment by judgment in storage order, K as in the metadata; depends on that order."
    ),
)


def rankings_filename(study: Study, extension: str) -> str:
    return f"{slugify(study.name) or study.uuid}-rankings.{extension}"


def english_rankings(study: Study, **options) -> list[Ranking]:
    """Rank the study with `options` for reports.ranking.study_rankings, with reasons in English."""
    with translation.override("en"):
        return study_rankings(study, **options)


def rankings_csv(rankings: list[Ranking], *, bom: bool = True) -> str:
    """Return the CSV text, starting with the byte order mark unless `bom` is False."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([column.name for column in COLUMNS])
    for ranking in rankings:
        for record in ranking.systems:
            rating, rate = record.rating_interval, record.win_rate_interval
            cells = [
                ranking.criterion.name,
                record.rank,
                record.system.name,
                record.rating,
                rating.lower if rating else None,
                rating.upper if rating else None,
                record.win_rate,
                rate.lower if rate else None,
                rate.upper if rate else None,
                record.wins,
                record.losses,
                record.ties,
                record.both_bad,
                record.comparisons,
                record.online_elo,
            ]
            writer.writerow([neutralise(cell) for cell in cells])
    return (BYTE_ORDER_MARK if bom else "") + buffer.getvalue()


def rankings_metadata(study: Study, rankings: list[Ranking], *, bom: bool = True) -> dict:
    """Describe the CSV file for its sidecar `<file>.meta.json`; `bom` as in the CSV."""
    return {
        "file": rankings_filename(study, "csv"),
        "format": {
            "encoding": csv_encoding(bom),
            "dialect": "RFC 4180, comma separated, CRLF line ends",
            "rows": "one per criterion and system, best first within a criterion",
        },
        **_header(study, rankings),
        "criteria": [_criterion_summary(ranking) for ranking in rankings],
        "columns": [{"name": column.name, "description": column.description} for column in COLUMNS],
    }


def rankings_json(study: Study, rankings: list[Ranking]) -> dict:
    """Return every ranking figure of the study as JSON-ready data."""
    criteria = []
    for ranking in rankings:
        described = _criterion_summary(ranking)
        described["systems"] = [_system_figures(record) for record in ranking.systems]
        described["pairs"] = [
            {
                "system": pair.system.name,
                "opponent": pair.opponent.name,
                "wins": pair.wins,
                "losses": pair.losses,
                "ties": pair.ties,
                "both_bad": pair.both_bad,
                "comparisons": pair.comparisons,
                "predicted_win_probability": pair.predicted_win_probability,
            }
            for pair in ranking.pairs
        ]
        described["win_probability"] = {
            "description": "matrix[i][j]: probability, predicted from the ratings, that systems[i] beats systems[j], "
            "a tie counting half; null on the diagonal and without ratings",
            "systems": [record.system.name for record in ranking.systems],
            "matrix": ranking.win_probability,
        }
        criteria.append(described)
    return {**_header(study, rankings), "criteria": criteria}


def _header(study: Study, rankings: list[Ranking]) -> dict:
    method = rankings[0].method if rankings else None
    return {
        "study": {"name": study.name, "uuid": str(study.uuid), "kind": study.kind, "status": study.status},
        "counted": {
            "surplus_judgments": rankings[0].include_surplus if rankings else False,
            "excluded_annotators": rankings[0].include_excluded if rankings else False,
            "gold_items": False,
        },
        "method": _method(method) if method else None,
        "generated_at": timezone.now().astimezone(UTC).isoformat(),
        "humeval_version": _humeval_version(),
    }


def _method(method) -> dict:
    return {
        "rating": "Bradley-Terry, maximum likelihood (Newton's method), Elo scale: "
        "1000 + 400 * log10(strength / anchor strength)",
        "anchor": method.anchor.name if method.anchor else "geometric mean strength of the rated systems",
        "ties": "a tie and a both_bad answer count as half a win for each system",
        "virtual_ties_per_pair": method.virtual_ties,
        "interval": "percentile bootstrap, linear interpolation between order statistics",
        "bootstrap_rounds": method.rounds,
        "seed": method.seed,
        "confidence": method.confidence,
        "resampled_unit": method.resampled_unit,
        "rank": "1 plus the number of systems whose rating interval lies wholly above",
        "online_elo_k": method.k_factor,
        "online_elo_order": "judgment storage time, then judgment id; every system starts at 1000",
    }


def _criterion_summary(ranking: Ranking) -> dict:
    bias = ranking.position_bias
    return {
        "criterion": ranking.criterion.name,
        "judgments": ranking.judgments,
        "prompts": ranking.prompts,
        "ratings_reason": ranking.ratings_reason or None,
        "intervals_reason": ranking.intervals_reason or None,
        "unidentified_bootstrap_rounds": ranking.method.unidentified_rounds,
        "unconverged_bootstrap_rounds": ranking.method.unconverged_rounds,
        "position_bias": {
            "left_wins": bias.left_wins,
            "right_wins": bias.right_wins,
            "left_share": bias.left_share,
            "left_share_lower": bias.interval.lower if bias.interval else None,
            "left_share_upper": bias.interval.upper if bias.interval else None,
        },
    }


def _system_figures(record) -> dict:
    rating, rate = record.rating_interval, record.win_rate_interval
    return {
        "system": record.system.name,
        "rank": record.rank,
        "rating": record.rating,
        "rating_lower": rating.lower if rating else None,
        "rating_upper": rating.upper if rating else None,
        "win_rate": record.win_rate,
        "win_rate_lower": rate.lower if rate else None,
        "win_rate_upper": rate.upper if rate else None,
        "wins": record.wins,
        "losses": record.losses,
        "ties": record.ties,
        "both_bad": record.both_bad,
        "comparisons": record.comparisons,
        "online_elo": record.online_elo,
    }
