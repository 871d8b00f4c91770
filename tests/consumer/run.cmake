# Installs the built ssm into WORK_DIR/prefix, configures and builds tests/consumer against it with
# find_package, and runs the result — what a user does. Run by CTest (tests/CMakeLists.txt).
foreach(var SSM_BINARY_DIR CONSUMER_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run.cmake needs -D${var}=...")
  endif()
endforeach()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "${name}:\n${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${name} failed (exit ${rc})")
  endif()
endfunction()

step("install" ${CMAKE_COMMAND} --install ${SSM_BINARY_DIR} --prefix ${prefix})
if(NOT EXISTS ${prefix}/share/cmake/ssm/ssmConfig.cmake OR NOT EXISTS ${prefix}/include/ssm/ssm.hpp)
  message(FATAL_ERROR "install did not produce ssmConfig.cmake and the headers under ${prefix}")
endif()
step("configure consumer" ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
  -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${prefix})
step("build consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
step("run consumer" ${WORK_DIR}/build/consumer)
