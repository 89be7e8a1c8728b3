from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from fairtrain.accounts.models import CreatorProfile, LicenseeOrg
from fairtrain.catalog.models import Asset, AssetRightsholder
from fairtrain.db.base import new_id
from fairtrain.db.engine import transaction
from fairtrain.errors import InvalidInput
from fairtrain.ledger.distribution import (
    Payee,
    asset_splits,
    mix_weights,
    payee_weights,
    plan_distribution,
    run_distribution,
)
from fairtrain.ledger.errors import PoolAlreadyDistributed, PoolNotSettled
from fairtrain.ledger.invoices import InvoiceLineDraft, create_invoice, issue_invoice, pool_code
from fairtrain.ledger.journal import get_account, owed
from fairtrain.ledger.models import DistributionRun, Invoice, Transaction
from fairtrain.ledger.payments import ManualProvider, record_payment
from fairtrain.money import allocate

JAN = (date(2026, 1, 1), date(2026, 1, 31))
BANK = ManualProvider()

# --- the pure plan -----------------------------------------------------------------------------------


def test_standards_example_three_equal_creators_no_fee() -> None:
    plan = plan_distribution(70_000, fee_bp=0, weights={"crt_a": 1, "crt_b": 1, "crt_c": 1})
    assert [(s.creator_id, s.gross, s.net) for s in plan.shares] == [
        ("crt_a", 23_334, 23_334),
        ("crt_b", 23_333, 23_333),
        ("crt_c", 23_333, 23_333),
    ]


def test_fee_is_taken_from_each_gross_share_rounded_down() -> None:
    plan = plan_distribution(10_001, fee_bp=1_500, weights={"crt_a": 2, "crt_b": 1})
    a, b = plan.shares
    assert (a.gross, a.fee, a.net) == (6_667, 1_000, 5_667)  # 6,667 × 15 % = 1,000.05 -> 1,000
    assert (b.gross, b.fee, b.net) == (3_334, 500, 2_834)  # 3,334 × 15 % = 500.1 -> 500
    assert plan.fee_total == 1_500
    assert sum(plan.payee_totals.values()) + plan.fee_total == 10_001


def test_co_rightsholders_split_the_net_share() -> None:
    outside = Payee.outside("Jo  Photographer")
    plan = plan_distribution(
        1_000,
        fee_bp=2_000,
        weights={"crt_a": 1},
        splits={"crt_a": {Payee.creator("crt_a"): 6_000, outside: 4_000}},
        contributions={"crt_a": {"ast_1": 3, "ast_2": 1}},
    )
    (share,) = plan.shares
    assert share.net == 800
    assert share.payees == {Payee.creator("crt_a"): 480, outside: 320}
    assert share.assets == {"ast_1": 750, "ast_2": 250}  # each asset's part of the gross share
    assert plan.payee_totals[outside] == 320


def test_outside_rightsholders_have_stable_private_account_codes() -> None:
    jo = Payee.outside(" Jo   Photographer ")
    assert jo.name == "Jo Photographer"
    assert jo.account_code == Payee.outside("jo photographer").account_code
    assert jo.account_code.startswith("payable:holder:") and "jo" not in jo.account_code.lower()[15:]
    assert Payee.creator("crt_x").account_code == "payable:crt_x"
    with pytest.raises(InvalidInput, match="either a creator"):
        Payee()
    with pytest.raises(InvalidInput, match="either a creator"):
        Payee(creator_id="crt_x", name="X")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"fee_bp": 10_001}, "basis points"),
        ({"fee_bp": -1}, "basis points"),
        ({"weights": {}}, "no weights"),
        ({"weights": {"crt_a": 0}}, "positive"),
        ({"splits": {"crt_z": {Payee.creator("crt_z"): 1}}}, "splits given for creators without a weight"),
        ({"contributions": {"crt_z": {"ast_1": 1}}}, "contributions given for creators without a weight"),
    ],
)
def test_plan_refuses_bad_input(arguments, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        plan_distribution(100, **{"fee_bp": 0, "weights": {"crt_a": 1}, **arguments})


def test_mix_weights_is_exact() -> None:
    items = {"crt_a": 3, "crt_b": 1}  # 3/4, 1/4
    usage = {"crt_b": 10, "crt_c": 30}  # 1/4, 3/4
    mixed = mix_weights(items, usage, Fraction(7, 10))
    assert mixed == {"crt_a": Fraction(21, 40), "crt_b": Fraction(1, 4), "crt_c": Fraction(9, 40)}
    assert sum(mixed.values()) == 1
    assert mix_weights(items, usage, 1) == {"crt_a": Fraction(3, 4), "crt_b": Fraction(1, 4)}
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        mix_weights(items, usage, Fraction(3, 2))
    with pytest.raises(InvalidInput, match="int or a Fraction"):
        mix_weights(items, usage, 0.7)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="empty"):
        mix_weights({}, usage, Fraction(1, 2))


def test_payee_weights_from_per_asset_rightsholders() -> None:
    me, jo = Payee.creator("crt_a"), Payee.outside("Jo")
    weights = payee_weights(
        {"ast_1": 1, "ast_2": 1}, {"ast_1": {me: 10_000}, "ast_2": {me: 5_000, jo: 5_000}}
    )
    assert weights == {me: Fraction(3, 4), jo: Fraction(1, 4)}
    with pytest.raises(InvalidInput, match="no rightsholder split given for asset ast_3"):
        payee_weights({"ast_3": 1}, {})


_CREATORS = st.dictionaries(
    st.from_regex(r"crt_[a-z0-9]{1,6}", fullmatch=True),
    st.one_of(st.integers(1, 10**6), st.fractions(min_value=Fraction(1, 1000), max_value=1000).filter(bool)),
    min_size=1,
    max_size=25,
)


@given(
    pool=st.integers(0, 10**12),
    fee_bp=st.integers(0, 10_000),
    weights=_CREATORS,
    split_seed=st.lists(st.integers(1, 10_000), min_size=1, max_size=4),
)
def test_distribution_parts_sum_to_the_pool_within_one_unit_of_exact(
    pool: int, fee_bp: int, weights: dict[str, int | Fraction], split_seed: list[int]
) -> None:
    splits = {
        creator: {Payee.creator(creator): split_seed[0]}
        | {Payee.outside(f"H{i}"): w for i, w in enumerate(split_seed)}
        for creator in list(weights)[::2]
    }
    plan = plan_distribution(pool, fee_bp=fee_bp, weights=weights, splits=splits)
    assert plan.fee_total + sum(plan.payee_totals.values()) == pool
    total_weight = sum(Fraction(w) for w in weights.values())
    for share in plan.shares:
        exact = pool * Fraction(weights[share.creator_id]) / total_weight
        assert abs(share.gross - exact) < 1
        assert share.fee == share.gross * fee_bp // 10_000 and share.net == share.gross - share.fee
        assert sum(share.payees.values()) == share.net
        assert all(amount >= 0 for amount in share.payees.values())
    assert plan == plan_distribution(
        pool, fee_bp=fee_bp, weights=dict(reversed(weights.items())), splits=splits
    )


# --- runs on the database ----------------------------------------------------------------------------


def _paid_invoice(db: Session, org: LicenseeOrg, amount_micros: int, *, source: str = "del_1") -> Invoice:
    invoice = create_invoice(
        db,
        licensee_org_id=org.id,
        currency="USD",
        source_type="deal",
        source_id=source,
        period_start=JAN[0],
        period_end=JAN[1],
        lines=[InvoiceLineDraft("Training licence", 1, amount_micros)],
    )
    issue_invoice(db, invoice, idempotency_key=f"issue-{invoice.id}")
    record_payment(
        db,
        invoice,
        amount=invoice.total,
        provider=BANK,
        external_id=f"bank-{invoice.id}",
        idempotency_key=f"pay-{invoice.id}",
    )
    db.commit()
    return invoice


def _run(db: Session, weights, *, key: str = "run-1", **extra) -> DistributionRun:
    arguments = {
        "source_type": "deal",
        "source_id": "del_1",
        "period_start": JAN[0],
        "period_end": JAN[1],
        "currency": "USD",
        "fee_bp": 1_000,
        "weights": weights,
        "rule": "by item count",
        "idempotency_key": key,
        **extra,
    }
    run = run_distribution(db, **arguments)
    db.commit()
    return run


@pytest.fixture
def three(make_creator: Callable[..., CreatorProfile]) -> list[CreatorProfile]:
    return [make_creator(handle) for handle in ("ana", "ben", "cy")]


def test_run_pays_creators_to_the_cent(db: Session, org: LicenseeOrg, three: list[CreatorProfile]) -> None:
    a, b, c = three
    invoice = _paid_invoice(db, org, 700_000_000)  # 700.00 USD
    run = _run(db, {a.id: 1, b.id: 1, c.id: 1})
    assert run.pool_amount == 70_000 and run.fee_amount == 7_000 - 1  # 2,333 + 2,333 + 2,333
    payable = {cr.handle: owed(db, get_account(db, f"payable:{cr.id}", "USD")) for cr in three}
    assert sorted(payable.values()) == [21_000, 21_000, 21_001]
    assert sum(payable.values()) + run.fee_amount == 70_000
    assert owed(db, get_account(db, "platform:revenue", "USD")) == run.fee_amount
    assert owed(db, get_account(db, pool_code("deal", "del_1", *JAN), "USD")) == 0
    db.refresh(invoice)
    assert invoice.distribution_id == run.id
    assert {s.creator_id: (s.gross, s.fee, s.net) for s in run.shares}[sorted((a.id, b.id, c.id))[0]] == (
        23_334,
        2_333,
        21_001,
    )
    assert get_account(db, f"payable:{a.id}", "USD").creator_id == a.id


def test_a_period_pools_every_paid_invoice_of_the_source(
    db: Session, org: LicenseeOrg, three: list[CreatorProfile]
) -> None:
    _paid_invoice(db, org, 100_000_000)
    _paid_invoice(db, org, 50_000_000)
    _paid_invoice(db, org, 999_000_000, source="del_other")  # another deal's pool is left alone
    run = _run(db, {three[0].id: 1})
    assert run.pool_amount == 15_000
    assert owed(db, get_account(db, pool_code("deal", "del_other", *JAN), "USD")) == 99_900


def test_rerunning_a_period_gives_the_same_run_and_posts_nothing(
    db: Session, org: LicenseeOrg, three: list[CreatorProfile]
) -> None:
    _paid_invoice(db, org, 123_456_780)
    weights = {three[0].id: 5, three[1].id: Fraction(7, 3), three[2].id: 1}
    first = _run(db, weights)
    transactions = db.scalar(select(func.count()).select_from(Transaction))
    again = _run(db, dict(reversed(weights.items())), key="run-2")  # another key, the same period and inputs
    assert again.id == first.id
    assert db.scalar(select(func.count()).select_from(Transaction)) == transactions
    with pytest.raises(PoolAlreadyDistributed, match="other inputs"):
        _run(db, {three[0].id: 1}, key="run-3")
    db.rollback()
    # The stored inputs reproduce the stored numbers exactly.
    stored = first.inputs["weights"]
    plan = plan_distribution(
        first.pool_amount, fee_bp=first.fee_bp, weights={k: Fraction(v) for k, v in stored.items()}
    )
    assert {s.creator_id: (s.gross, s.fee, s.net) for s in plan.shares} == {
        s.creator_id: (s.gross, s.fee, s.net) for s in first.shares
    }


def test_unpaid_invoices_hold_the_pool(db: Session, org: LicenseeOrg, three: list[CreatorProfile]) -> None:
    _paid_invoice(db, org, 100_000_000)
    unpaid = create_invoice(
        db,
        licensee_org_id=org.id,
        currency="USD",
        source_type="deal",
        source_id="del_1",
        period_start=JAN[0],
        period_end=JAN[1],
        lines=[InvoiceLineDraft("Usage", 10, 1_000_000)],
    )
    issue_invoice(db, unpaid, idempotency_key="issue-unpaid")
    db.commit()
    with pytest.raises(PoolNotSettled, match=unpaid.reference):
        _run(db, {three[0].id: 1})
    db.rollback()


def test_nothing_to_distribute_and_unknown_creators(db: Session, org: LicenseeOrg, three) -> None:
    with pytest.raises(InvalidInput, match="nothing to distribute"):
        _run(db, {three[0].id: 1})
    db.rollback()
    _paid_invoice(db, org, 100_000_000)
    with pytest.raises(InvalidInput, match="unknown creators: crt_nobody"):
        _run(db, {"crt_nobody": 1})
    db.rollback()


def test_a_distributed_period_takes_no_new_invoice(db: Session, org: LicenseeOrg, three) -> None:
    _paid_invoice(db, org, 100_000_000)
    _run(db, {three[0].id: 1})
    late = create_invoice(
        db,
        licensee_org_id=org.id,
        currency="USD",
        source_type="deal",
        source_id="del_1",
        period_start=JAN[0],
        period_end=JAN[1],
        lines=[InvoiceLineDraft("Late usage", 1, 1_000_000)],
    )
    db.commit()
    with pytest.raises(PoolAlreadyDistributed, match="another period"):
        issue_invoice(db, late, idempotency_key="issue-late")
    db.rollback()


def _asset(db: Session, creator: CreatorProfile, title: str) -> Asset:
    asset = Asset(
        creator_id=creator.id,
        kind="image",
        mime="image/jpeg",
        size=1,
        sha256=title.ljust(64, "0"),
        title=title,
        title_source="user",
        storage="copy",
        original_filename=f"{title}.jpg",
    )
    db.add(asset)
    db.flush()
    return asset


def test_run_with_catalog_rightsholders_and_asset_contributions(
    db: Session, org: LicenseeOrg, three: list[CreatorProfile]
) -> None:
    ana, ben, _ = three
    solo, shared = _asset(db, ana, "solo"), _asset(db, ana, "shared")
    db.add_all(
        [
            AssetRightsholder(asset_id=shared.id, position=1, name="Ana", creator_id=ana.id, share_bp=5_000),
            AssetRightsholder(asset_id=shared.id, position=2, name="Ben", creator_id=ben.id, share_bp=2_500),
            AssetRightsholder(asset_id=shared.id, position=3, name="Jo Outside", share_bp=2_500),
        ]
    )
    db.commit()
    _paid_invoice(db, org, 100_000_000)  # 100.00
    usage = {solo.id: 1, shared.id: 1}
    run = _run(
        db,
        {ana.id: 1},
        fee_bp=0,
        splits={ana.id: payee_weights(usage, asset_splits(db, set(usage)))},
        contributions={ana.id: usage},
    )
    # Ana: all of solo (50.00) + half of shared (25.00); Ben a quarter of shared; Jo the last quarter.
    assert owed(db, get_account(db, f"payable:{ana.id}", "USD")) == 7_500
    assert owed(db, get_account(db, f"payable:{ben.id}", "USD")) == 1_250
    jo = get_account(db, Payee.outside("Jo Outside").account_code, "USD")
    assert owed(db, jo) == 1_250 and jo.name == "Jo Outside" and jo.creator_id is None
    assert {line.asset_id: line.amount for line in run.assets} == {solo.id: 5_000, shared.id: 5_000}
    assert {line.account.code: line.amount for line in run.payees} == {
        f"payable:{ana.id}": 7_500,
        f"payable:{ben.id}": 1_250,
        jo.code: 1_250,
    }
    with pytest.raises(InvalidInput, match="unknown assets: ast_missing"):
        asset_splits(db, {"ast_missing"})


def test_equal_inputs_give_equal_numbers_whatever_the_order() -> None:
    """Reproducible: the plan depends on the inputs only, not on ids, order or time."""
    weights = {"crt_1": 3, "crt_2": Fraction(5, 2), "crt_3": 1}
    first = plan_distribution(98_765, fee_bp=1_250, weights=weights)
    second = plan_distribution(98_765, fee_bp=1_250, weights=dict(sorted(weights.items(), reverse=True)))
    assert first == second
    assert allocate(98_765, weights) == {s.creator_id: s.gross for s in first.shares}


def test_concurrent_runs_of_one_period_post_once(
    db: Session, db_factory: sessionmaker[Session], org: LicenseeOrg, three: list[CreatorProfile]
) -> None:
    """Workers on their own connections run the same period at once: one run, posted once."""
    _paid_invoice(db, org, 100_000_000)
    weights = {creator.id: 1 for creator in three}
    workers = 4
    barrier = threading.Barrier(workers)
    runs: list[str] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        barrier.wait()
        try:
            with transaction(db_factory) as session:
                result = run_distribution(
                    session,
                    source_type="deal",
                    source_id="del_1",
                    period_start=JAN[0],
                    period_end=JAN[1],
                    currency="USD",
                    fee_bp=1_000,
                    weights=weights,
                    idempotency_key=f"worker-{n}",
                ).id
        except OperationalError as error:  # SQLite: a writer that lost the race; PostgreSQL waits instead
            result = "locked" if "locked" in str(error) else f"failed: {error}"
        with lock:
            runs.append(result)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.expire_all()
    (only,) = db.scalars(select(DistributionRun)).all()
    assert set(runs) <= {only.id, "locked"} and only.id in runs
    assert (
        db.scalar(select(func.count()).select_from(Transaction).where(Transaction.kind == "distribution"))
        == 1
    )
    assert owed(db, get_account(db, pool_code("deal", "del_1", *JAN), "USD")) == 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pool_cents=st.integers(1, 10**9),
    fee_bp=st.integers(0, 10_000),
    raw_weights=st.lists(st.integers(1, 10**6), min_size=1, max_size=6),
)
def test_posted_runs_pay_out_exactly_the_pool(
    db: Session,
    org: LicenseeOrg,
    make_creator: Callable[..., CreatorProfile],
    pool_cents: int,
    fee_bp: int,
    raw_weights: list[int],
) -> None:
    """Property, on the database: for random pools and weights the postings empty the pool exactly."""
    tag = new_id("t")[2:]
    creators = [make_creator(f"h{tag}{i}") for i in range(len(raw_weights))]
    weights = {creator.id: w for creator, w in zip(creators, raw_weights, strict=True)}
    _paid_invoice(db, org, pool_cents * 10_000, source=f"del_{tag}")
    run = run_distribution(
        db,
        source_type="deal",
        source_id=f"del_{tag}",
        period_start=JAN[0],
        period_end=JAN[1],
        currency="USD",
        fee_bp=fee_bp,
        weights=weights,
        idempotency_key=f"run-{tag}",
    )
    db.commit()
    credited = sum(owed(db, get_account(db, f"payable:{creator.id}", "USD")) for creator in creators)
    assert run.pool_amount == pool_cents
    assert credited + run.fee_amount == pool_cents
    assert owed(db, get_account(db, pool_code("deal", f"del_{tag}", *JAN), "USD")) == 0
    total = sum(raw_weights)
    for share in run.shares:
        assert abs(share.gross - Fraction(pool_cents * weights[share.creator_id], total)) < 1
