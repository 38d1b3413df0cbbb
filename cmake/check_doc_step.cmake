# One step of a doc page's program (docs/CMakeLists.txt), as a test:
#   cmake -DPROGRAM=... -DSTEP=N [-DEXPECTED=file] [-DLAST=TRUE] -DWORKING_DIRECTORY=dir -P this
# runs PROGRAM in WORKING_DIRECTORY (made empty first) and fails unless step N printed both of
# its marker lines, "@@docs step N@@" and "@@docs end of step N@@", with exactly the text of
# EXPECTED between them (when given); with LAST, also unless the program exited with 0. What
# went wrong is shown as it was printed: a diff of the output block and the step's output, or
# the program's whole output and errors.

# Prints a line, or a file's text, on this script's standard output, unchanged.
function(show line)
  execute_process(COMMAND ${CMAKE_COMMAND} -E echo "${line}")
endfunction()
function(show_file path)
  execute_process(COMMAND ${CMAKE_COMMAND} -E cat ${path})
endfunction()

file(REMOVE_RECURSE ${WORKING_DIRECTORY})
file(MAKE_DIRECTORY ${WORKING_DIRECTORY})
set(stdout_file ${WORKING_DIRECTORY}/stdout.txt)
set(stderr_file ${WORKING_DIRECTORY}/stderr.txt)
execute_process(COMMAND ${PROGRAM} WORKING_DIRECTORY ${WORKING_DIRECTORY}
                OUTPUT_FILE ${stdout_file} ERROR_FILE ${stderr_file} RESULT_VARIABLE exit_code)
file(READ ${stdout_file} output)

set(begin_marker "@@docs step ${STEP}@@\n")
set(end_marker "@@docs end of step ${STEP}@@\n")
string(FIND "${output}" "${begin_marker}" begin)
string(FIND "${output}" "${end_marker}" end)
if(begin EQUAL -1 OR end EQUAL -1)
  show("Step ${STEP} did not run to its end (exit code ${exit_code}). The program printed:")
  show_file(${stdout_file})
  show("and its errors were:")
  show_file(${stderr_file})
  message(FATAL_ERROR "step ${STEP} did not run to its end")
endif()
string(LENGTH "${begin_marker}" begin_length)
math(EXPR begin "${begin} + ${begin_length}")
math(EXPR length "${end} - ${begin}")
string(SUBSTRING "${output}" ${begin} ${length} printed)

if(EXPECTED)
  file(READ ${EXPECTED} expected)
  if(NOT printed STREQUAL expected)
    set(printed_file ${WORKING_DIRECTORY}/step_${STEP}.printed)
    file(WRITE ${printed_file} "${printed}")
    find_program(DIFF diff)
    if(DIFF)
      show("Step ${STEP} printed what its output block does not say (- the block, + the step):")
      execute_process(COMMAND ${DIFF} -u --label "output block" --label "step ${STEP}"
                              ${EXPECTED} ${printed_file})
    else()
      show("Step ${STEP} printed what its output block does not say. The output block:")
      show_file(${EXPECTED})
      show("What the step printed:")
      show_file(${printed_file})
    endif()
    message(FATAL_ERROR "step ${STEP} printed what its output block does not say")
  endif()
endif()
if(LAST AND NOT exit_code EQUAL 0)
  show("The program exited with ${exit_code} after its last step. Its errors:")
  show_file(${stderr_file})
  message(FATAL_ERROR "the program exited with ${exit_code}")
endif()
