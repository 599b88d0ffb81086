# relay_set_warnings(target): the project's warning set on our own code only.
function(relay_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
    -Wnon-virtual-dtor -Wimplicit-fallthrough -Wformat=2 -Wold-style-cast)
  if(RELAY_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
