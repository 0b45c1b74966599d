"""/metrics: Prometheus's text format, counted in Redis by every process, read at the
scrape with what the database and the queue say now."""

from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app import jobs
from app.extensions import redis_store
from app.services import metrics
from tests.test_dispatch import send, statuses, wait_until

TOKEN = {"Authorization": "Bearer tests-metrics-token"}


def scrape(client) -> dict[str, dict[tuple, float]]:
    answer = client.get("/metrics", headers=TOKEN)
    assert answer.status_code == 200, answer.text
    assert answer.mimetype == "text/plain"
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            found.setdefault(sample.name, {})[labels] = sample.value
    return found


def test_metrics_need_the_token_and_are_off_without_one(app, client, monkeypatch):
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer guess"})
    assert wrong.status_code == 401 and "tests-metrics-token" not in wrong.text
    # Prometheus's text format, its charset said once (twice: an outside check).
    given = client.get("/metrics", headers=TOKEN)
    assert given.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    monkeypatch.setitem(app.config, "METRICS_TOKEN", None)
    assert client.get("/metrics", headers=TOKEN).status_code == 404


def test_messages_provider_latency_and_callback_lag_are_counted(
    providers, officer, make_resident, run_worker, client
):
    make_resident(
        postcode="BS1 6AD", sms="+447700900101", voice="+441174960101", email="sam@example.invalid"
    )
    alert = send(officer)
    before = scrape(client)
    queued = before["community_alerts_deliveries_unfinished"]
    assert sum(queued.values()) == 3
    assert before["community_alerts_queue_depth"][()] >= 1

    assert run_worker() is True
    wait_until(lambda: statuses(alert.id) == {"delivered": 2, "sent": 1}, message="callbacks")
    found = scrape(client)
    sent = found["community_alerts_messages_total"]
    for channel in ("sms", "voice", "email"):
        key = (("channel", channel), ("ledger", "alerts"), ("outcome", "sent"))
        assert sent[key] == 1, channel
    latency = found["community_alerts_provider_latency_seconds_count"]
    assert {dict(k)["channel"]: v for k, v in latency.items()} == {"sms": 1, "voice": 1, "email": 1}
    lag = found["community_alerts_callback_lag_seconds_count"]
    assert {dict(k)["channel"]: v for k, v in lag.items()} == {"sms": 1, "voice": 1}
    assert sum(found.get("community_alerts_deliveries_unfinished", {}).values()) == 0
    assert found["community_alerts_deliveries_oldest_unfinished_seconds"][()] == 0
    # Nothing personal in what a scraper stores.
    text = client.get("/metrics", headers=TOKEN).text
    assert "+447700900101" not in text and "sam@example.invalid" not in text


def test_the_officers_preview_is_timed(officer_client, client, make_resident):
    make_resident(postcode="BS1 6AD")
    circle = {"kind": "circle", "center": [-2.588230, 51.451967], "radius_m": 2000}
    assert officer_client.post("/officers/preview", json={"shapes": [circle]}).status_code == 200
    timed = scrape(client)["community_alerts_preview_seconds_count"]
    assert timed == {(("kind", "area"),): 1}
    buckets = scrape(client)["community_alerts_preview_seconds_bucket"]
    assert buckets[(("kind", "area"), ("le", "+Inf"))] == 1


def test_counting_never_fails_the_work_when_redis_is_down(monkeypatch):
    monkeypatch.setattr(
        redis_store,
        "_client",
        Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)),
    )
    metrics.count_messages("alerts", [("sms", "sent")])  # no exception: the send stands
    metrics.observe("provider_latency_seconds", [("sms", 0.2)])
    metrics.count_sweeps({"requeued": 2})


def test_histogram_buckets_are_cumulative_and_the_sum_adds_up(client, app_ctx):
    metrics.observe("provider_latency_seconds", [("sms", 0.07), ("sms", 0.3), ("sms", 20.0)])
    found = scrape(client)
    buckets = {
        dict(k)["le"]: v
        for k, v in found["community_alerts_provider_latency_seconds_bucket"].items()
    }
    assert buckets["0.05"] == 0 and buckets["0.1"] == 1 and buckets["0.5"] == 2
    assert buckets["10.0"] == 2 and buckets["+Inf"] == 3
    total = found["community_alerts_provider_latency_seconds_sum"][(("channel", "sms"),)]
    assert abs(total - 20.37) < 1e-6


def test_the_workers_listening_and_the_sweepers_last_round_are_shown(client, app_ctx, runner):
    """With no worker nor sweeper running, the metrics read as a healthy idle service
    (an outside check of the install): how many workers listen, and how long since a
    sweeper finished a round (-1: none in the last day)."""
    from rq import Worker

    from app import jobs

    redis_store.client.delete(metrics.SWEEPER_ROUND)
    found = scrape(client)
    assert found["community_alerts_workers"][()] == 0
    assert found["community_alerts_sweeper_last_round_seconds"][()] == -1
    assert runner.invoke(args=["sweeper", "--once"]).exit_code == 0
    listening = Worker([jobs.queue()], connection=redis_store.client, name="metrics-test")
    listening.register_birth()
    try:
        found = scrape(client)
    finally:
        listening.register_death()
    assert found["community_alerts_workers"][()] == 1
    assert 0 <= found["community_alerts_sweeper_last_round_seconds"][()] < 30


def test_each_queues_waiting_jobs_are_shown_the_bulk_queue_too(client, app_ctx):
    # An import's jobs on the bulk queue were in no figure: the depth counts the three
    # queues alerts wait on, and each queue is shown on its own.
    jobs.enqueue("outbound.deliver_batch", "notices", [987654], on=jobs.BULK)
    jobs.enqueue("outbound.deliver_batch", "notices", [987655], on=jobs.BULK)
    jobs.enqueue("outbound.deliver_batch", "notices", [987656], on=jobs.NOTICES)
    found = scrape(client)
    waiting = {dict(k)["queue"]: v for k, v in found["community_alerts_queue_waiting"].items()}
    assert waiting == {"notices": 1, "urgent": 0, "alerts": 0, "bulk": 2}
    assert found["community_alerts_queue_depth"][()] == 1
