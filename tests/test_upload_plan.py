"""Planning an Image Categorization upload in the SDK: each file's bytes read once, the same bytes twice in a
category sent once, the same bytes under two categories named, unreadable files kept apart, and what the
upload journal says of each file (a dry run)."""
from __future__ import annotations

import hashlib

from helpers import make_image

from nanoclient import UploadJournal
from nanoclient.image_categorization.plan import journal_view, plan_upload


def test_a_plan_sends_each_content_once_per_category_and_names_the_rest(tmp_path):
    red, blue = make_image((200, 0, 0)), make_image((0, 0, 200))
    files = {"a.png": red, "b.png": red, "c.png": blue, "d.png": red}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    items = [(tmp_path / "a.png", "red"), (tmp_path / "b.png", "red"), (tmp_path / "c.png", "blue"),
             (tmp_path / "d.png", "blue"), (tmp_path / "gone.png", "red")]
    plan = plan_upload(items)
    path = {name: str(tmp_path / name) for name in [*files, "gone.png"]}
    assert plan.to_send == [(path["a.png"], "red"), (path["c.png"], "blue"), (path["d.png"], "blue")]
    assert plan.same_as == [(path["b.png"], "red", path["a.png"])]
    assert plan.conflicts == [{"file": path["d.png"], "category": "blue", "same_as": path["a.png"],
                               "same_as_category": "red"}]
    assert [(p, c) for p, c, _ in plan.unreadable] == [(path["gone.png"], "red")]
    assert plan.digest(tmp_path / "c.png") == hashlib.sha256(blue).hexdigest()


def test_the_journal_view_says_what_a_dry_run_would_send(tmp_path):
    (tmp_path / "a.png").write_bytes(make_image((200, 0, 0)))
    (tmp_path / "b.png").write_bytes(make_image((0, 200, 0)))
    plan = plan_upload([(tmp_path / "a.png", "red"), (tmp_path / "b.png", "green")])
    journal = UploadJournal.for_model("http://127.0.0.1:1/api/v2", "m1", folder=tmp_path / "journals")
    try:
        fresh = journal_view(journal, plan)
        assert (fresh.to_send, fresh.stored, fresh.unsettled, fresh.pending) == (plan.to_send, [], [], 0)
        assert journal_view(journal, plan, force=True).to_send == plan.to_send
    finally:
        journal.close()
