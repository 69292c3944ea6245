# Sanitizer and fuzzing instrumentation for every C and C++ target of the
# build, chosen at configure time (tools/check_reliability.sh uses both):
#
#   VAE_SANITIZE       a -fsanitize= list, e.g. "address,undefined" or "thread";
#                      every finding is fatal (-fno-sanitize-recover=all).
#   VAE_BUILD_FUZZERS  the libFuzzer targets of fuzz/ (clang only); the whole
#                      build is compiled with coverage for the fuzzer.
set(VAE_SANITIZE "" CACHE STRING "Sanitizers for every C/C++ target (-fsanitize= list), e.g. address,undefined")
option(VAE_BUILD_FUZZERS "Build the libFuzzer targets in fuzz/ (needs clang)" OFF)

set(_vae_c_cxx "$<COMPILE_LANGUAGE:C,CXX>")
if(VAE_SANITIZE)
  add_compile_options(
    "$<${_vae_c_cxx}:-fsanitize=${VAE_SANITIZE}>"
    "$<${_vae_c_cxx}:-fno-sanitize-recover=all>"
    "$<${_vae_c_cxx}:-fno-omit-frame-pointer>")
  add_link_options("-fsanitize=${VAE_SANITIZE}")
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # clang links a static runtime into executables only, which libvae.so
    # (linked with --no-undefined) cannot see: every target links the
    # shared runtime instead, found through the run path (fuzz/ turns these
    # options off again: libFuzzer needs the static runtime).
    execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-runtime-dir
                    OUTPUT_VARIABLE _vae_runtime_dir OUTPUT_STRIP_TRAILING_WHITESPACE)
    set(VAE_SHARED_SANITIZER_RUNTIME "-shared-libsan" "-Wl,-rpath,${_vae_runtime_dir}")
    add_link_options(${VAE_SHARED_SANITIZER_RUNTIME})
  endif()
endif()

if(VAE_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang" OR NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "VAE_BUILD_FUZZERS needs clang: configure with "
                        "-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++")
  endif()
  add_compile_options("$<${_vae_c_cxx}:-fsanitize=fuzzer-no-link>")
endif()
