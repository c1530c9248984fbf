"""The states every move type shares, defined once.

Each type adds the states of its own phases (see ``moves/types``); these are
the ones that mean the same for every type, and the terminal three are what
callers wait for.
"""

PHASES = ('claim', 'pre-check', 'transfer', 'switch-over', 'cleanup')
PHASE_STATES = {'claim': 'claiming', 'pre-check': 'pre-checking',
                'transfer': 'transferring', 'switch-over': 'switching-over',
                'cleanup': 'cleaning-up'}

ACCEPTED = 'accepted'
REVERTING = 'reverting'
COMPLETED = 'completed'
REVERTED = 'reverted'
FAILED = 'failed'

#: A move in one of these has ended: nothing runs it until an operator
#: resumes or reverts a failed one.
TERMINAL_STATES = (COMPLETED, REVERTED, FAILED)
