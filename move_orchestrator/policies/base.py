"""Rules the others are built from."""

from oslo_policy import policy

ADMIN = 'rule:context_is_admin'
ADMIN_OR_OWNER = 'rule:admin_or_owner'

rules = [
    policy.RuleDefault('context_is_admin', 'role:admin',
                       description='Decides what an administrator is.'),
    policy.RuleDefault('admin_or_owner',
                       'rule:context_is_admin or project_id:%(project_id)s',
                       description='An administrator, or a member of the '
                                   'project that owns the instance.'),
]


def list_rules():
    return rules
