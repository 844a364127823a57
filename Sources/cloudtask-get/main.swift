// cloudtask-get [worker options] REMOTE LOCALDIR: REMOTE from every worker into LOCALDIR/<worker>/ (see CopyCommand).
import CopyCommand

CopyCommand.main(.get)
