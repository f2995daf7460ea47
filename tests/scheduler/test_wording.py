"""A job's schedule and its runs' summaries in the reader's language."""

from __future__ import annotations

import pytest

from evalsys.i18n import in_locale
from evalsys.scheduler import jobs
from evalsys.scheduler.wording import run_detail, schedule_text


@pytest.mark.parametrize(
    ("trigger", "args", "en", "zh"),
    [
        ("cron", {"hour": 2, "minute": 0}, "daily at 02:00", "每天 02:00"),
        (
            "cron",
            {"day_of_week": "fri", "hour": 18, "minute": 0},
            "weekly on Friday at 18:00",
            "每星期五 18:00",
        ),
        ("cron", {"hour": 4}, "daily at 04:00", "每天 04:00"),
        ("interval", {"minutes": 5}, "every 5 minutes", "每 5 分钟"),
        ("interval", {"minutes": 1}, "every minute", "每 1 分钟"),
        ("interval", {"hours": 2}, "every 2 hours", "每 2 小时"),
        # A trigger it cannot say in words is shown as declared rather than guessed at.
        ("cron", {"day": "1-7", "hour": 2}, "cron {'day': '1-7', 'hour': 2}", None),
    ],
)
def test_schedules_in_words(app, trigger, args, en, zh):
    with app.test_request_context():
        with in_locale("en"):
            assert schedule_text(trigger, args) == en
        with in_locale("zh"):
            assert schedule_text(trigger, args) == (zh or en)


def test_every_registered_job_has_a_schedule_in_words(app):
    with app.test_request_context(), in_locale("zh"):
        jobs.load_job_modules(app)
        for spec in jobs.JOBS:
            args = spec.schedule_args(app.config)
            assert args is not None, f"{spec.id} is switched off by default"
            text = schedule_text(spec.trigger, args)
            assert "{" not in text and spec.trigger not in text, (spec.id, text)


@pytest.mark.parametrize(
    ("stored", "zh"),
    [
        ("3 sent, 0 failed", "已发送 3，失败 0"),
        (
            "2026-2027-1 (final): 120 records, 900 results, 4 flags; "
            "MAIL_SERVER is not set: nothing emailed",
            "2026-2027-1（最终）：120 条记录，900 项结果，4 项标记；"
            "未设置邮件服务器（MAIL_SERVER）：未发送任何邮件",
        ),
        (
            "0 marked missed; 2026-2027-1 week 5: 12 assignments (seed 99)",
            "0 项标记为未完成；2026-2027-1 第 5 周：12 项听课安排（种子 99）",
        ),
        ("the job is already running in another process", "该任务已在另一个进程中运行"),
        # What no pattern knows is shown as stored, a part at a time.
        ("counted; 1 sent, 2 failed", "counted；已发送 1，失败 2"),
        ("Traceback (most recent call last):\n  boom; 1 sent, 0 failed", None),
    ],
)
def test_run_summaries_in_chinese(app, stored, zh):
    with app.test_request_context():
        with in_locale("zh"):
            assert run_detail(stored) == (zh or stored)
        with in_locale("en"):
            assert run_detail(stored) == stored
