# cmake -DSOURCE_DIR=<repo> -DINPUTS=<generated/vae_build_tag_inputs.txt>
#       -DHEADER=<generated/vae_build_tag.h> -P check_build_tag.cmake
#
# The build tag (cmake/VaeBuildTag.cmake) identifies the build that made
# libvae.so and libvae_cuda.so: every source both are compiled from is among
# the files it hashes, and the tag changes when one of them does.
cmake_minimum_required(VERSION 3.25)
file(STRINGS "${INPUTS}" hashed)
file(GLOB_RECURSE expected
  "${SOURCE_DIR}/src/*.cpp" "${SOURCE_DIR}/src/*.h"
  "${SOURCE_DIR}/kernels/*.cu" "${SOURCE_DIR}/kernels/*.cuh" "${SOURCE_DIR}/kernels/*.h"
  "${SOURCE_DIR}/include/*.h")
list(LENGTH expected count)
if(count LESS 50)
  message(FATAL_ERROR "found only ${count} sources under ${SOURCE_DIR}")
endif()
foreach(file IN LISTS expected)
  if(NOT file IN_LIST hashed)
    message(FATAL_ERROR "the build tag does not hash ${file}")
  endif()
endforeach()

# The same script over a copy of one source, before and after a one-byte
# change, gives two tags.
set(work "${CMAKE_CURRENT_BINARY_DIR}/build_tag_check")
file(REMOVE_RECURSE "${work}")
file(MAKE_DIRECTORY "${work}")
list(GET expected 0 first)
file(READ "${first}" text)
file(WRITE "${work}/source.cpp" "${text}")
function(tag_of out)
  execute_process(COMMAND ${CMAKE_COMMAND} -DOUTPUT=${work}/tag.h -DSALT=nonce
                          -DFILES=${work}/source.cpp -P ${SOURCE_DIR}/cmake/VaeBuildTag.cmake
                  RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "VaeBuildTag.cmake failed")
  endif()
  file(STRINGS "${work}/tag.h" line REGEX "#define VAE_BUILD_TAG")
  set(${out} "${line}" PARENT_SCOPE)
endfunction()
tag_of(before)
file(APPEND "${work}/source.cpp" " ")
tag_of(after)
if(before STREQUAL after)
  message(FATAL_ERROR "a changed source left the tag as it was: ${before}")
endif()
file(STRINGS "${HEADER}" own REGEX "^#define VAE_BUILD_TAG \"[0-9a-f]+\"$")
string(LENGTH "${own}" length)
if(NOT length EQUAL 40)
  message(FATAL_ERROR "${HEADER} defines no 16-digit VAE_BUILD_TAG")
endif()
file(REMOVE_RECURSE "${work}")
