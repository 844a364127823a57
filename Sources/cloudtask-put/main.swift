// cloudtask-put [worker options] LOCAL REMOTE: LOCAL to REMOTE on every worker (see CopyCommand).
import CopyCommand

CopyCommand.main(.put)
