"""One of the processes racing admission in test_admission_race: admits
what the limits allow, "runs" each move it wins (a compare-and-set from
accepted, as a claim), ends it after a moment, until none is left."""

import random
import sys
import time

import sqlalchemy as sa

from move_orchestrator.conductor import admission
from move_orchestrator.conf import CONF
from move_orchestrator.db import models
from move_orchestrator.db import session as db_session


def main(url, seed):
    CONF([], project='move-orchestrator')
    for name, value in (('max_outbound_live_per_host', 1),
                        ('max_outbound_per_host', 2),
                        ('max_inbound_per_host', 1), ('max_moves', 5)):
        CONF.set_override(name, value, group='limits')
    rnd = random.Random(seed)
    db = db_session.get_database(url)
    gate = admission.Admission(db, CONF)
    while True:
        runnable = gate.runnable()
        if not runnable:
            with db.session() as s:
                left = s.scalar(sa.select(sa.func.count()).select_from(
                    models.Move).where(models.Move.state != 'completed'))
            if not left:
                return 0
        for move_id in runnable:
            with db.session() as s:
                won = s.execute(sa.update(models.Move).where(
                    models.Move.id == move_id,
                    models.Move.state == 'accepted').values(
                    state='transferring')).rowcount
            if not won:
                continue
            time.sleep(rnd.uniform(0, 0.004))
            with db.session() as s:
                s.execute(sa.update(models.Move).where(
                    models.Move.id == move_id).values(
                    state='completed', finished_at=models.utcnow()))
        time.sleep(rnd.uniform(0, 0.001))


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
