"""Schema of the fast TaskFlow backend: TaskFlow's columns, our table names.

The tables are prefixed ``tf_`` so they live next to TaskFlow's stock
``logbooks``/``flowdetails``/``atomdetails`` and our alembic tables without
clashing. JSON columns are plain text that we encode ourselves on every
dialect: the encoded strings double as the change-detection cache (immutable,
so nothing the engine mutates later can alias them).
"""

from oslo_serialization import jsonutils
from oslo_utils import timeutils
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from taskflow.persistence import models

UUID_LENGTH = 64
NAME_LENGTH = 255
STATE_LENGTH = 255

# MySQL's TEXT stops at 64 KiB; results and failures may be larger.
JSONText = sa.UnicodeText().with_variant(mysql.LONGTEXT(), 'mysql', 'mariadb')

metadata = sa.MetaData()

logbooks = sa.Table(
    'tf_logbooks', metadata,
    sa.Column('uuid', sa.String(UUID_LENGTH), primary_key=True),
    sa.Column('name', sa.String(NAME_LENGTH)),
    sa.Column('meta', JSONText),
    sa.Column('created_at', sa.DateTime, default=timeutils.utcnow),
    sa.Column('updated_at', sa.DateTime),
)

flowdetails = sa.Table(
    'tf_flowdetails', metadata,
    sa.Column('uuid', sa.String(UUID_LENGTH), primary_key=True),
    sa.Column('parent_uuid', sa.String(UUID_LENGTH),
              sa.ForeignKey('tf_logbooks.uuid', ondelete='CASCADE'),
              index=True),
    sa.Column('name', sa.String(NAME_LENGTH)),
    sa.Column('state', sa.String(STATE_LENGTH)),
    sa.Column('meta', JSONText),
    sa.Column('created_at', sa.DateTime, default=timeutils.utcnow),
    sa.Column('updated_at', sa.DateTime, onupdate=timeutils.utcnow),
)

atomdetails = sa.Table(
    'tf_atomdetails', metadata,
    sa.Column('uuid', sa.String(UUID_LENGTH), primary_key=True),
    sa.Column('parent_uuid', sa.String(UUID_LENGTH),
              sa.ForeignKey('tf_flowdetails.uuid', ondelete='CASCADE'),
              index=True),
    sa.Column('atom_type', sa.String(32)),
    sa.Column('name', sa.String(NAME_LENGTH)),
    sa.Column('version', sa.String(64)),
    sa.Column('state', sa.String(STATE_LENGTH)),
    sa.Column('intention', sa.String(32)),
    sa.Column('meta', JSONText),
    sa.Column('results', JSONText),
    sa.Column('failure', JSONText),
    sa.Column('revert_results', JSONText),
    sa.Column('revert_failure', JSONText),
    sa.Column('created_at', sa.DateTime, default=timeutils.utcnow),
    sa.Column('updated_at', sa.DateTime, onupdate=timeutils.utcnow),
)

# Atom columns holding JSON, and all the columns an atom save may change.
ATOM_JSON = ('meta', 'results', 'failure', 'revert_results', 'revert_failure')
ATOM_VALUES = ATOM_JSON + ('state', 'intention', 'version', 'name')


# Statements built once (values bound at execution): building them per save
# costs more than running them.
UPDATE_ATOM = atomdetails.update().where(atomdetails.c.uuid == sa.bindparam('b_uuid'))
UPDATE_FLOW = flowdetails.update().where(flowdetails.c.uuid == sa.bindparam('b_uuid'))
UPDATE_BOOK = logbooks.update().where(logbooks.c.uuid == sa.bindparam('b_uuid'))


def dumps(value):
    return None if value is None else jsonutils.dumps(value)


def loads(value):
    return None if value is None else jsonutils.loads(value)


def atom_row(ad):
    """The column values of an atom detail, JSON already encoded."""
    data = ad.to_dict()
    row = {k: dumps(data[k]) for k in ATOM_JSON}
    for k in ('state', 'intention', 'version', 'name'):
        row[k] = data[k]
    return row


def atom_from_row(row):
    data = {k: loads(row[k]) for k in ATOM_JSON}
    for k in ('uuid', 'state', 'intention', 'version', 'name'):
        data[k] = row[k]
    if data['meta'] is None:
        data['meta'] = {}
    return models.atom_detail_class(row['atom_type']).from_dict(data)


def flow_row(fd):
    return {'name': fd.name, 'state': fd.state, 'meta': dumps(fd.meta)}


def flow_from_row(row):
    return models.FlowDetail.from_dict({
        'uuid': row['uuid'], 'name': row['name'], 'state': row['state'],
        'meta': loads(row['meta']) or {}})


def book_row(book):
    return {'name': book.name, 'meta': dumps(book.meta),
            'created_at': book.created_at, 'updated_at': book.updated_at}


def book_from_row(row):
    return models.LogBook.from_dict({
        'uuid': row['uuid'], 'name': row['name'],
        'meta': loads(row['meta']) or {},
        'created_at': row['created_at'], 'updated_at': row['updated_at']})
