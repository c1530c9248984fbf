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

# The events of the move state machines (verbs; each type's machine lists
# which state each takes where, see ``moves/machine.py``).
START = 'start'          # accepted -> the first phase's state
ADVANCE = 'advance'      # a phase state -> the next one
COMPLETE = 'complete'    # cleaning-up -> completed
ABORT = 'abort'          # an operator's abort, before the point of no return
REVERT = 'revert'        # roll back: a step failed, or an operator asked
DONE_REVERTING = 'reverted'   # reverting -> reverted
FAIL = 'fail'            # could reach neither end by itself
RESUME = 'resume'        # an operator's resume of a failed move
EVENTS = (START, ADVANCE, COMPLETE, ABORT, REVERT, DONE_REVERTING, FAIL,
          RESUME)

#: A drain's own states (moves/drain.py); it ends in the shared terminal
#: states above. An aborted drain ends ``reverted``: what had not passed its
#: point of no return was undone, and its record names what stays moved.
DRAINING = 'draining'
PAUSED = 'paused'
ABORTING = 'aborting'
